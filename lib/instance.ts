/** Who this process is, for `servedBy` fields and span endpoints. */
import { isIP } from 'node:net';
import os from 'node:os';

/** The first non-internal IPv4 address of this host, if it has one. */
export function hostIPv4(): string | undefined {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return undefined;
}

/**
 * The first non-internal IPv6 address of this host that others can reach it at, if it has one:
 * not link-local (fe80::/10, which means nothing without its interface).
 */
export function hostIPv6(): string | undefined {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv6' && !address.internal && !/^fe[89ab]/i.test(address.address)) return address.address;
    }
  }
  return undefined;
}

/**
 * This instance's own address, in the field of a Zipkin v2 `Endpoint` its family takes (`ipv4` or
 * `ipv6`; zipkin2-api.yaml, which asks for an IPv4-mapped IPv6 address in `ipv4`).
 */
export interface OwnAddress {
  ipv4?: string;
  ipv6?: string;
  /** What was wrong with POD_IP, naming the fix, when it was set but is no IP address (the host's addresses are used then). */
  problem?: string;
}

/**
 * This instance's address: `podIp` (POD_IP, which the chart sets from the pod's `status.podIP`: the
 * address the cluster reaches the pod at, in whichever family the cluster gives it first) when set,
 * else the host's first non-internal IPv4 address and its first routable IPv6 address, each when
 * it has one. A `podIp` that is no IP address is set aside with a `problem`.
 */
export function ownAddress(podIp: string | undefined): OwnAddress {
  const given = podIp?.trim();
  if (given) {
    const family = isIP(given);
    if (family === 4) return { ipv4: given };
    if (family === 6) return ipv6Endpoint(given);
    const problem =
      `POD_IP ${JSON.stringify(podIp)} is no IP address: set it from the pod's status.podIP ` +
      `(env valueFrom.fieldRef.fieldPath), or leave it unset to use this host's own addresses`;
    return { ...hostAddresses(), problem };
  }
  return hostAddresses();
}

/**
 * An IPv6 address as a Zipkin endpoint holds it: RFC 5952 text without a zone (`%eth0`, which the
 * spec's `ipv6` format refuses, and with it the whole batch of spans, and which means nothing off
 * this host), and an IPv4-mapped address in any notation (`::ffff:10.0.0.1`, `::ffff:a00:1`) as
 * the IPv4 address in `ipv4`.
 */
function ipv6Endpoint(address: string): OwnAddress {
  // The URL standard's serializer writes RFC 5952's form (lower case, the longest run of zeros compressed).
  const text = new URL(`http://[${address.replace(/%.*$/, '')}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (!mapped) return { ipv6: text };
  const [high, low] = [parseInt(mapped[1]!, 16), parseInt(mapped[2]!, 16)];
  return { ipv4: [high >> 8, high & 255, low >> 8, low & 255].join('.') };
}

function hostAddresses(): OwnAddress {
  const ipv4 = hostIPv4();
  const ipv6 = hostIPv6();
  return { ...(ipv4 && { ipv4 }), ...(ipv6 && { ipv6 }) };
}

/** A name for the answering instance: the pod name in Kubernetes, the host name elsewhere. */
export function instanceName(): string {
  return os.hostname();
}
