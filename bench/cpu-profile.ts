/**
 * `--cpu-prof` for processes started by others (the landscape's services): loaded with
 * `--import` through NODE_OPTIONS, which refuses `--cpu-prof` itself. Profiles the main
 * thread from start to exit and writes `$BENCH_CPU_PROF_DIR/<script>.<pid>.cpuprofile`,
 * readable by bench/profile.ts, Chrome DevTools or speedscope (a flame graph).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { basename, dirname, join } from 'node:path';
import process from 'node:process';

const dir = process.env['BENCH_CPU_PROF_DIR'];
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // Posts on a same-thread session complete synchronously, so this runs before the process ends.
    session.post('Profiler.stop', (error, result) => {
      if (error) return;
      const script = process.argv[1] ?? 'node';
      const name = `${basename(dirname(script))}-${basename(script, '.ts')}.${process.pid}.cpuprofile`;
      writeFileSync(join(dir, name), JSON.stringify(result.profile));
    });
  });
}
