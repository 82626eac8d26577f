/** Who this process is, for `servedBy` fields and span endpoints. */
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

/** A name for the answering instance: the pod name in Kubernetes, the host name elsewhere. */
export function instanceName(): string {
  return os.hostname();
}
