import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import { hostIPv6, ownAddress } from './instance.ts';

describe('ownAddress', () => {
  it("puts POD_IP in the field of its family, an IPv4-mapped address in ipv4 (as zipkin2-api.yaml asks)", () => {
    assert.deepEqual(ownAddress('10.42.0.7'), { ipv4: '10.42.0.7' });
    assert.deepEqual(ownAddress('fd00:10:244::7'), { ipv6: 'fd00:10:244::7' });
    assert.deepEqual(ownAddress('2001:DB8::7'), { ipv6: '2001:db8::7' }, 'lower case, as RFC 5952 writes it');
    assert.deepEqual(ownAddress('::ffff:10.42.0.7'), { ipv4: '10.42.0.7' });
    assert.deepEqual(ownAddress('::FFFF:a2a:7'), { ipv4: '10.42.0.7' }, 'IPv4-mapped in hex');
    assert.deepEqual(ownAddress('fd00:0:0:0:0:0:0:7'), { ipv6: 'fd00::7' }, 'zeros compressed, as RFC 5952 writes it');
    assert.deepEqual(ownAddress('fe80::7%eth0'), { ipv6: 'fe80::7' }, "no zone, which zipkin2-api.yaml's ipv6 format refuses");
  });

  it("takes the host's addresses without POD_IP, and with one that is no address, saying what is wrong", () => {
    const host = ownAddress(undefined);
    if (host.ipv4) assert.equal(isIP(host.ipv4), 4);
    if (host.ipv6) assert.equal(isIP(host.ipv6), 6);
    assert.equal(host.ipv6, hostIPv6());
    assert.deepEqual(ownAddress(''), host, 'empty: unset');
    const bad = ownAddress('$(POD_IP)');
    assert.match(bad.problem ?? '', /^POD_IP "\$\(POD_IP\)" is no IP address: set it from the pod's status\.podIP/);
    assert.deepEqual({ ...bad, problem: undefined }, { ...host, problem: undefined });
  });

  it('never takes a link-local IPv6 address, which means nothing without its interface', () => {
    assert.doesNotMatch(hostIPv6() ?? '', /^fe[89ab]/i);
  });
});
