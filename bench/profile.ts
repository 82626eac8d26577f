/**
 * Reading a V8 CPU profile (`node --cpu-prof`): where the time went, by function, both
 * self time and inclusive time (the function and everything it called), so the cost
 * of our code shows up wherever the work lands underneath it.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../tools/landscape.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  /** `function (file:line)`, the file relative to the repository. */
  name: string;
  ms: number;
  /** Of all sampled time, idle included. */
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Sampled time spent neither idle nor in garbage collection. */
  busyMs: number;
  gcMs: number;
  self: ProfileEntry[];
  inclusive: ProfileEntry[];
  /** Self time by where the code lives: a package, a folder of ours, Node's internals, native. */
  byPlace: ProfileEntry[];
}

/** Where a frame's code lives, coarsely: `node_modules/<package>`, `lib/<folder>`, `node:<module>`, `(native)`. */
export function placeOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (['(idle)', '(garbage collector)', '(program)'].includes(functionName)) return functionName;
  if (!url) return '(native)';
  if (url.startsWith('node:')) {
    if (url.includes('deps/undici')) return 'node:undici (fetch)';
    return `node:${url.slice(5).replace(/^internal\//, '').split('/')[0]}`;
  }
  let file = url;
  try {
    file = url.startsWith('file:') ? relative(ROOT, fileURLToPath(url)) : url;
  } catch {
    // Keep the URL as it is.
  }
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (inModules) return inModules[1]!;
  const parts = file.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : file;
}

function where(frame: CallFrame): string {
  if (!frame.url) return frame.functionName || '(program)';
  let file = frame.url;
  try {
    file = file.startsWith('file:') ? relative(ROOT, fileURLToPath(file)) : file;
  } catch {
    // Keep the URL as it is.
  }
  return `${frame.functionName || '(anonymous)'} (${file}:${frame.lineNumber + 1})`;
}

/** Top `top` functions by self and by inclusive time; `include` filters the inclusive list (e.g. our files). */
export function summariseProfile(
  path: string,
  { top = 15, include = (_name: string): boolean => true }: { top?: number; include?: (name: string) => boolean } = {},
): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const places = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  let gcUs = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    totalUs += delta;
    const node = byId.get(id);
    if (!node) return;
    const name = where(node.callFrame);
    if (name === '(idle)') idleUs += delta;
    if (name === '(garbage collector)') gcUs += delta;
    self.set(name, (self.get(name) ?? 0) + delta);
    const place = placeOf(node.callFrame);
    places.set(place, (places.get(place) ?? 0) + delta);
    // Each function once per sample, however deep it recurses.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at);
      if (frame) seen.add(where(frame.callFrame));
    }
    for (const key of seen) inclusive.set(key, (inclusive.get(key) ?? 0) + delta);
  });
  const rank = (map: Map<string, number>, keep: (name: string) => boolean) =>
    [...map]
      .filter(([name]) => keep(name))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / totalUs }));
  return {
    totalMs: totalUs / 1000,
    busyMs: (totalUs - idleUs - gcUs) / 1000,
    gcMs: gcUs / 1000,
    self: rank(self, (name) => name !== '(idle)'),
    inclusive: rank(inclusive, include),
    byPlace: rank(places, (name) => name !== '(idle)'),
  };
}
