/**
 * A NetworkPolicy evaluator: would a cluster that enforces networking.k8s.io/v1 policies let
 * this connection through? It follows the API's rules: a pod selected by no policy of a
 * direction is open in that direction; a selected pod accepts what any selecting policy's rule
 * allows (peers and ports), and a connection needs both the source's egress and the
 * destination's ingress. Peers outside the cluster match only rules without peers or ipBlock.
 */
export type Labels = Record<string, string>;

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

interface Peer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

interface PolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}

interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: PolicyPort[];
}

export interface NetworkPolicy {
  metadata: { name: string; namespace?: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes?: ('Ingress' | 'Egress')[];
    ingress?: Rule[];
    egress?: Rule[];
  };
}

/** A pod, or with `external` an address outside the cluster. */
export interface Endpoint {
  name: string;
  namespace: string;
  labels: Labels;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  external?: boolean;
}

export function matches(selector: LabelSelector, labels: Labels): boolean {
  const exact = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  return (
    exact &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      const value = labels[key];
      switch (operator) {
        case 'In':
          return value !== undefined && values.includes(value);
        case 'NotIn':
          return value === undefined || !values.includes(value);
        case 'Exists':
          return value !== undefined;
        case 'DoesNotExist':
          return value === undefined;
      }
    })
  );
}

export class PolicySet {
  /**
   * @param policies the NetworkPolicies, with `defaultNamespace` for those rendered without one
   * @param namespaceLabels labels of namespaces beyond the automatic kubernetes.io/metadata.name
   */
  constructor(
    private readonly policies: NetworkPolicy[],
    private readonly defaultNamespace: string,
    private readonly namespaceLabels: Record<string, Labels> = {},
  ) {}

  /** Whether `from` may open a connection to `to` on port/protocol. */
  allows(from: Endpoint, to: Endpoint, port: number, protocol = 'TCP'): boolean {
    return this.allowsIn('Egress', from, to, port, protocol) && this.allowsIn('Ingress', to, from, port, protocol);
  }

  /** Whether `subject`'s policies of this direction let the connection with `peer` through. */
  private allowsIn(direction: 'Ingress' | 'Egress', subject: Endpoint, peer: Endpoint, port: number, protocol: string): boolean {
    if (subject.external) return true;
    const selecting = this.policies.filter(
      (p) => this.namespaceOf(p) === subject.namespace && matches(p.spec.podSelector, subject.labels) && this.types(p).includes(direction),
    );
    if (selecting.length === 0) return true;
    // The port is the destination's: the subject's own for ingress, the peer's for egress.
    const destination = direction === 'Ingress' ? subject : peer;
    return selecting.some((policy) => {
      const rules = (direction === 'Ingress' ? policy.spec.ingress : policy.spec.egress) ?? [];
      return rules.some((rule) => {
        const peers = direction === 'Ingress' ? rule.from : rule.to;
        const peerOk = !peers || peers.length === 0 || peers.some((p) => this.peerMatches(p, this.namespaceOf(policy), peer));
        return peerOk && this.portMatches(rule.ports, destination, port, protocol);
      });
    });
  }

  private types(policy: NetworkPolicy): string[] {
    return policy.spec.policyTypes ?? (policy.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
  }

  private namespaceOf(policy: NetworkPolicy): string {
    return policy.metadata.namespace ?? this.defaultNamespace;
  }

  private peerMatches(peer: Peer, policyNamespace: string, endpoint: Endpoint): boolean {
    if (peer.ipBlock) return endpoint.external === true;
    if (endpoint.external) return false;
    const namespaceOk = peer.namespaceSelector
      ? matches(peer.namespaceSelector, {
          ...this.namespaceLabels[endpoint.namespace],
          'kubernetes.io/metadata.name': endpoint.namespace,
        })
      : endpoint.namespace === policyNamespace;
    return namespaceOk && (!peer.podSelector || matches(peer.podSelector, endpoint.labels));
  }

  private portMatches(ports: PolicyPort[] | undefined, destination: Endpoint, port: number, protocol: string): boolean {
    if (!ports || ports.length === 0) return true;
    return ports.some((p) => {
      if ((p.protocol ?? 'TCP') !== protocol) return false;
      if (p.port === undefined) return true;
      if (typeof p.port === 'string') {
        // A named port means the destination pod's container port of that name.
        return (destination.ports ?? []).some(
          (c) => c.name === p.port && c.containerPort === port && (c.protocol ?? 'TCP') === protocol,
        );
      }
      return p.endPort === undefined ? p.port === port : port >= p.port && port <= p.endPort;
    });
  }
}
