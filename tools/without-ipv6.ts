/**
 * `deno run --allow-ffi --allow-read tools/without-ipv6.ts <program> [args...]`: runs a program as
 * on a Linux node booted with IPv6 off (`ipv6.disable=1`), where `socket(AF_INET6, …)` fails with
 * EAFNOSUPPORT: a seccomp filter installed in this process makes the kernel answer every such call
 * so, and `execve` hands the filter on to the program, which cannot lift it. Everything else (IPv4,
 * Unix sockets, files) is untouched. For tests of what a service does on such a node; a network
 * namespace cannot stand in, since its `disable_ipv6` sysctl still lets AF_INET6 sockets be made.
 *
 * Linux on x86-64 and arm64 only (the filter names the architecture's syscall number); elsewhere
 * it exits 3 without running the program (`WITHOUT_IPV6_UNSUPPORTED`). The program is looked up in
 * PATH when its name has no slash. Run by Deno, whose FFI reaches libc's `prctl` and `execve`.
 */

/** The part of Deno's namespace used here (the project type-checks against Node's types). */
interface PointerValue {
  readonly brand?: 'pointer';
}
declare const Deno: {
  args: string[];
  build: { os: string; arch: string };
  env: { get(name: string): string | undefined; toObject(): Record<string, string> };
  exit(code: number): never;
  statSync(path: string): { isFile: boolean };
  UnsafePointer: { of(buffer: ArrayBufferView): PointerValue; value(pointer: PointerValue): number | bigint };
  dlopen(
    path: string,
    symbols: Record<string, { parameters: string[]; result: string }>,
  ): { symbols: { prctl(...args: bigint[] | number[] | Array<number | bigint>): number; execve(...args: Uint8Array[]): number } };
};

/** The exit status when this platform cannot run a program without IPv6. */
export const WITHOUT_IPV6_UNSUPPORTED = 3;

/** linux/audit.h's AUDIT_ARCH_* and the number of `socket` on each architecture (asm/unistd.h). */
const ARCHITECTURES: Record<string, { audit: number; socket: number }> = {
  x86_64: { audit: 0xc000003e, socket: 41 },
  aarch64: { audit: 0xc00000b7, socket: 198 },
};

const AF_INET6 = 10;
const EAFNOSUPPORT = 97;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_SET_SECCOMP = 22;
const SECCOMP_MODE_FILTER = 2;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
// Classic BPF opcodes (linux/filter.h): load a word at an absolute offset of seccomp_data, jump if equal, return.
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const RET_K = 0x06;

/** The filter: socket(AF_INET6, …) → EAFNOSUPPORT, anything else allowed (a foreign architecture's calls included). */
function filter(arch: { audit: number; socket: number }): Uint8Array {
  const program: Array<[code: number, jt: number, jf: number, k: number]> = [
    [LD_W_ABS, 0, 0, 4], // seccomp_data.arch
    [JEQ_K, 0, 5, arch.audit],
    [LD_W_ABS, 0, 0, 0], // seccomp_data.nr
    [JEQ_K, 0, 3, arch.socket],
    [LD_W_ABS, 0, 0, 16], // the low half of args[0], the family (little-endian)
    [JEQ_K, 0, 1, AF_INET6],
    [RET_K, 0, 0, SECCOMP_RET_ERRNO | EAFNOSUPPORT],
    [RET_K, 0, 0, SECCOMP_RET_ALLOW],
  ];
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach(([code, jt, jf, k], i) => {
    view.setUint16(i * 8, code, true);
    view.setUint8(i * 8 + 2, jt);
    view.setUint8(i * 8 + 3, jf);
    view.setUint32(i * 8 + 4, k, true);
  });
  return bytes;
}

/** A NUL-terminated C string. */
function cString(text: string): Uint8Array {
  return new TextEncoder().encode(`${text}\0`);
}

/** A NULL-terminated array of pointers to C strings, with the strings it points at (kept alive by the caller). */
function cStringArray(texts: string[]): { array: BigUint64Array; strings: Uint8Array[] } {
  const strings = texts.map(cString);
  const array = new BigUint64Array(strings.length + 1);
  strings.forEach((string, i) => (array[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(string)))));
  return { array, strings };
}

/** The program's path: as given when it has a slash, else the first executable of that name in PATH. */
function resolve(program: string): string | undefined {
  if (program.includes('/')) return program;
  for (const dir of (Deno.env.get('PATH') ?? '').split(':')) {
    try {
      const path = `${dir || '.'}/${program}`;
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

if ((import.meta as { main?: boolean }).main) {
  const [program, ...args] = Deno.args;
  if (!program) {
    console.error('usage: deno run --allow-ffi --allow-read tools/without-ipv6.ts <program> [args...]');
    Deno.exit(2);
  }
  const arch = ARCHITECTURES[Deno.build.arch];
  if (Deno.build.os !== 'linux' || arch === undefined) {
    console.error(`without-ipv6: Linux on x86-64 or arm64 only, not ${Deno.build.os} on ${Deno.build.arch}`);
    Deno.exit(WITHOUT_IPV6_UNSUPPORTED);
  }
  const path = resolve(program);
  if (!path) {
    console.error(`without-ipv6: ${program} not found in PATH`);
    Deno.exit(127);
  }
  const libc = Deno.dlopen('libc.so.6', {
    prctl: { parameters: ['i32', 'usize', 'usize', 'usize', 'usize'], result: 'i32' },
    execve: { parameters: ['buffer', 'buffer', 'buffer'], result: 'i32' },
  });
  const code = filter(arch);
  // struct sock_fprog: the instruction count (u16, padded to 8 bytes), then a pointer to them.
  const fprog = new BigUint64Array([BigInt(code.length / 8), BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(code)))]);
  // Without no_new_privs only a process with CAP_SYS_ADMIN may install a filter.
  if (libc.symbols.prctl(PR_SET_NO_NEW_PRIVS, 1n, 0n, 0n, 0n) !== 0) {
    console.error('without-ipv6: prctl(PR_SET_NO_NEW_PRIVS) failed');
    Deno.exit(WITHOUT_IPV6_UNSUPPORTED);
  }
  const fprogAddress = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(fprog)));
  if (libc.symbols.prctl(PR_SET_SECCOMP, BigInt(SECCOMP_MODE_FILTER), fprogAddress, 0n, 0n) !== 0) {
    // A container whose own seccomp profile refuses seccomp(2), or a kernel without it.
    console.error('without-ipv6: prctl(PR_SET_SECCOMP) failed: seccomp filters are not available here');
    Deno.exit(WITHOUT_IPV6_UNSUPPORTED);
  }
  const argv = cStringArray([program, ...args]);
  const envp = cStringArray(Object.entries(Deno.env.toObject()).map(([name, value]) => `${name}=${value}`));
  // The filter applies to this thread, which execve makes the program's only one.
  libc.symbols.execve(cString(path), new Uint8Array(argv.array.buffer), new Uint8Array(envp.array.buffer));
  console.error(`without-ipv6: could not run ${path}`);
  Deno.exit(126);
}
