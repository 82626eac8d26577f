/**
 * Runs pods from pod-run.ts on Docker and looks after them as a kubelet does: the startup probe
 * until it succeeds, then readiness and liveness, each at its period, with its timeout and
 * thresholds; a container that exits, or fails its startup or liveness probe, is a failure (a
 * kubelet would restart it; the check reports it). Stopping gives the pod its grace period and
 * reads the exit code.
 */
import { connect } from 'node:net';
import { docker } from './engine.ts';
import { makeVolumeDirs, type PodRun, type ResolvedProbe } from './pod-run.ts';
import { sleep, until } from '../../tools/wait.ts';

export interface PodState {
  run: PodRun;
  started: boolean;
  ready: boolean;
  /** Why the pod failed (exit, startup or liveness probe), once it has. */
  failure?: string;
  /** Probe attempts by kind, for the summary. */
  probed: Record<'startup' | 'readiness' | 'liveness', number>;
}

type Outcome = { ok: true } | { ok: false; why: string };

/** One probe attempt against the pod, as the kubelet makes it (HTTP: 200–399 within the timeout). */
export async function probeOnce(run: PodRun, probe: ResolvedProbe): Promise<Outcome> {
  const timeoutMs = probe.timeoutSeconds * 1000;
  const { action } = probe;
  if ('http' in action) {
    const url = `http://${run.ip}:${action.http.port}${action.http.path}`;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual', headers: { 'user-agent': 'kube-probe/1.33' } });
      await response.body?.cancel();
      return response.status >= 200 && response.status < 400 ? { ok: true } : { ok: false, why: `GET ${action.http.path} answered ${response.status}` };
    } catch (error) {
      return { ok: false, why: `GET ${action.http.path}: ${(error as Error).message}` };
    }
  }
  if ('tcp' in action) {
    return new Promise((resolve) => {
      const socket = connect({ host: run.ip, port: action.tcp.port, timeout: timeoutMs });
      const done = (outcome: Outcome) => {
        socket.destroy();
        resolve(outcome);
      };
      socket.once('connect', () => done({ ok: true }));
      socket.once('timeout', () => done({ ok: false, why: `tcp ${action.tcp.port}: timeout` }));
      socket.once('error', (error) => done({ ok: false, why: `tcp ${action.tcp.port}: ${error.message}` }));
    });
  }
  const result = await docker(['exec', run.container, ...action.exec], { check: false, timeoutMs });
  return result.code === 0 ? { ok: true } : { ok: false, why: `exec ${action.exec.join(' ')}: exit ${result.code} ${result.stderr.trim().slice(0, 200)}` };
}

export class Kubelet {
  readonly pods = new Map<string, PodState>();
  #stopped = false;

  constructor(private readonly log: (line: string) => void) {}

  /** Starts the pod's container and its probing; resolves once the container runs. */
  async start(run: PodRun): Promise<PodState> {
    makeVolumeDirs(run.volumeDirs);
    await docker(['run', '--detach', ...run.args]);
    const state: PodState = { run, started: !run.probes.startup, ready: false, probed: { startup: 0, readiness: 0, liveness: 0 } };
    this.pods.set(run.pod, state);
    void this.#watch(state);
    return state;
  }

  async #watch(state: PodState): Promise<void> {
    const { run } = state;
    const fail = (why: string) => {
      if (state.failure || this.#stopped) return;
      state.failure = why;
      state.ready = false;
      this.log(`${run.pod}: ${why}`);
    };
    const loop = async (kind: 'startup' | 'readiness' | 'liveness', probe: ResolvedProbe, onResult: (outcome: Outcome, streak: { ok: number; failed: number }) => boolean) => {
      await sleep(probe.initialDelaySeconds * 1000);
      const streak = { ok: 0, failed: 0 };
      while (!state.failure && !this.#stopped && state.run === run && this.pods.get(run.pod) === state) {
        const outcome = await probeOnce(run, probe);
        state.probed[kind]++;
        if (outcome.ok) Object.assign(streak, { ok: streak.ok + 1, failed: 0 });
        else Object.assign(streak, { ok: 0, failed: streak.failed + 1, why: outcome.why });
        if (!onResult(outcome, streak)) return;
        await sleep(probe.periodSeconds * 1000);
      }
    };
    const afterStart = () => {
      const { readiness, liveness } = run.probes;
      if (readiness) {
        void loop('readiness', readiness, (_, streak) => {
          if (streak.ok >= readiness.successThreshold) state.ready = true;
          if (streak.failed >= readiness.failureThreshold) state.ready = false;
          return true;
        });
      } else state.ready = true;
      if (liveness) {
        void loop('liveness', liveness, (outcome, streak) => {
          if (streak.failed >= liveness.failureThreshold) fail(`liveness probe failed ${streak.failed} times: ${(outcome as { why: string }).why}`);
          return true;
        });
      }
    };
    const { startup } = run.probes;
    if (startup) {
      void loop('startup', startup, (outcome, streak) => {
        if (outcome.ok) {
          state.started = true;
          afterStart();
          return false;
        }
        if (streak.failed >= startup.failureThreshold) fail(`startup probe failed ${streak.failed} times: ${outcome.why}`);
        return true;
      });
    } else afterStart();
    // The container itself: an exit is a failure while the pod is meant to run.
    while (!state.failure && !this.#stopped && this.pods.get(run.pod) === state) {
      const inspected = await docker(['inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', run.container], { check: false });
      const [running, code] = inspected.stdout.trim().split(' ');
      if (inspected.code === 0 && running === 'false') fail(`the container exited with code ${code}${await this.#lastLog(run)}`);
      await sleep(500);
    }
  }

  async #lastLog(run: PodRun): Promise<string> {
    const logs = await docker(['logs', '--tail', '8', run.container], { check: false });
    const text = `${logs.stdout}${logs.stderr}`.trim();
    return text ? `:\n${text}` : '';
  }

  /** Resolves once every named pod is ready; throws with the first failure or after `timeoutMs`. */
  async waitReady(names: string[], timeoutMs: number): Promise<void> {
    await until(
      () => {
        const failed = names.map((name) => this.pods.get(name)).find((state) => state?.failure);
        if (failed) throw new Error(`${failed.run.pod}: ${failed.failure}`);
        return names.every((name) => this.pods.get(name)?.ready);
      },
      timeoutMs,
      `${names.filter((name) => !this.pods.get(name)?.ready).join(', ')} to be ready`,
      200,
    );
  }

  /** Stops the pod as the kubelet does (SIGTERM, SIGKILL after the grace period); its exit code and seconds taken. */
  async stop(name: string): Promise<{ exitCode: number; seconds: number; log: string }> {
    const state = this.pods.get(name);
    if (!state) throw new Error(`no pod ${name}`);
    this.pods.delete(name);
    const started = performance.now();
    await docker(['stop', '--time', String(state.run.gracePeriodSeconds), state.run.container], { timeoutMs: (state.run.gracePeriodSeconds + 30) * 1000 });
    const code = await docker(['inspect', '--format', '{{.State.ExitCode}}', state.run.container]);
    const log = await this.#lastLog(state.run);
    // The pod is gone, as after its deletion: its name can be used again.
    await docker(['rm', state.run.container]);
    return { exitCode: Number(code.stdout.trim()), seconds: (performance.now() - started) / 1000, log };
  }

  /** The container's log, stdout and stderr. */
  async logs(name: string): Promise<string> {
    const state = this.pods.get(name);
    if (!state) return '';
    const logs = await docker(['logs', state.run.container], { check: false });
    return `${logs.stdout}${logs.stderr}`;
  }

  /** Stops probing; the caller removes the containers. */
  close(): void {
    this.#stopped = true;
  }
}
