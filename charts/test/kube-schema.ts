/**
 * Validating rendered manifests offline against the Kubernetes API.
 *
 * Built-in kinds: kubernetes-models 4.5, whose validators are generated from the OpenAPI
 * schema of Kubernetes v1.33.0. Those validators check types, formats and required fields but
 * let unknown fields through, so a second pass type-checks every manifest as an object literal
 * of the model's TypeScript interface, where an unknown field is an error. Custom resources
 * (Gateway API, cert-manager, Envoy Gateway) use the schemas in crd-schemas.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { Ajv } from 'ajv';
import { crdSchemas } from './crd-schemas.ts';
import { repoRoot, type Manifest } from './render.ts';

export const KUBERNETES_VERSION = 'v1.33.0';

const label = (m: Manifest) => `${m.kind}/${m.metadata.name}`;
const isBuiltIn = (m: Manifest) => !(`${m.apiVersion}/${m.kind}` in crdSchemas);
const modelPath = (m: Manifest) => `kubernetes-models/${m.apiVersion}/${m.kind}`;

const ajv = new Ajv({ allErrors: true, strict: true });
const crdValidators = new Map(Object.entries(crdSchemas).map(([key, schema]) => [key, ajv.compile(schema)]));

type ModelClass = new (data: unknown) => { validate(): void };

/** Schema errors of each manifest, as "Kind/name: problem"; empty when all are valid. */
export async function schemaErrors(manifests: Manifest[]): Promise<string[]> {
  const errors: string[] = [];
  for (const m of manifests) {
    const crd = crdValidators.get(`${m.apiVersion}/${m.kind}`);
    if (crd) {
      if (!crd(m)) errors.push(`${label(m)}: ${ajv.errorsText(crd.errors)}`);
      continue;
    }
    let Model: ModelClass;
    try {
      Model = ((await import(modelPath(m))) as Record<string, ModelClass>)[m.kind]!;
    } catch {
      errors.push(`${label(m)}: ${m.apiVersion} ${m.kind} is not a Kubernetes ${KUBERNETES_VERSION} kind`);
      continue;
    }
    try {
      new Model(m).validate();
    } catch (error) {
      errors.push(`${label(m)}: ${(error as Error).message}`);
    }
  }
  return errors;
}

/** Unknown or mistyped fields in the built-in manifests, from the TypeScript compiler. */
export function unknownFieldErrors(manifests: Manifest[]): string[] {
  const builtIn = manifests.filter(isBuiltIn);
  // Inside node_modules so that the models resolve.
  const cache = join(repoRoot, 'node_modules', '.cache', 'landscape');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'typecheck-'));
  // One manifest per block of lines, so that an error's line number names its manifest.
  const starts: { line: number; label: string }[] = [];
  let line = 1;
  const source = builtIn.map((m, i) => {
    const type = `import('${modelPath(m)}').I${m.kind}`;
    const block = `export const m${i}: ${type} = ${JSON.stringify(m, null, 1)};\n`;
    starts.push({ line, label: label(m) });
    line += block.split('\n').length - 1;
    return block;
  });
  const manifestAt = (n: number) => starts.findLast((start) => start.line <= n)?.label ?? '?';
  writeFileSync(join(dir, 'manifests.ts'), source.join(''));
  const compilerOptions = { strict: true, noEmit: true, module: 'NodeNext', skipLibCheck: true, types: [] };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['manifests.ts'] }));
  const typescript = createRequire(join(repoRoot, 'package.json')).resolve('typescript/package.json');
  const tsc = join(dirname(typescript), 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', stdio: 'pipe' });
    return [];
  } catch (error) {
    const output = String((error as { stdout?: string }).stdout ?? error);
    return output
      .split('\n')
      .filter((text) => text.includes('error TS'))
      .map((text) => `${manifestAt(Number(/\((\d+),/.exec(text)?.[1]))}: ${text.replace(/^.*error TS\d+: /, '')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
