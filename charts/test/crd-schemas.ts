/**
 * JSON schemas for the custom resources the chart may render, which kubernetes-models does not
 * know. Each covers the fields the chart writes, typed and constrained as the upstream CRDs
 * (Gateway API v1, cert-manager v1, Envoy Gateway v1alpha1) declare them, and rejects any other
 * field, so a misspelt or misplaced field fails here instead of on a cluster.
 */
const name = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$', maxLength: 253 };
const sectionName = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };
const hostname = { type: 'string', pattern: '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };

const strict = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

const resource = (apiVersion: string, kind: string, spec: object) =>
  strict(
    {
      apiVersion: { const: apiVersion },
      kind: { const: kind },
      metadata: strict({ name, namespace: name, labels: stringMap, annotations: stringMap }, ['name']),
      spec,
    },
    ['apiVersion', 'kind', 'metadata', 'spec'],
  );

const secretObjectReference = strict(
  { group: { type: 'string' }, kind: { type: 'string' }, name, namespace: name },
  ['name'],
);

const parentReference = strict(
  { group: { type: 'string' }, kind: { type: 'string' }, namespace: name, name, sectionName, port },
  ['name'],
);

const backendRef = strict(
  { group: { type: 'string' }, kind: { type: 'string' }, name, namespace: name, port, weight: { type: 'integer', minimum: 0 } },
  ['name'],
);

const gateway = resource(
  'gateway.networking.k8s.io/v1',
  'Gateway',
  strict(
    {
      gatewayClassName: name,
      infrastructure: strict({
        labels: stringMap,
        annotations: stringMap,
        parametersRef: strict({ group: { type: 'string' }, kind: { type: 'string' }, name }, ['group', 'kind', 'name']),
      }),
      listeners: {
        type: 'array',
        minItems: 1,
        items: strict(
          {
            name: sectionName,
            hostname,
            port,
            protocol: { type: 'string', minLength: 1 },
            tls: strict({
              mode: { enum: ['Terminate', 'Passthrough'] },
              certificateRefs: { type: 'array', maxItems: 64, items: secretObjectReference },
            }),
            allowedRoutes: strict({
              namespaces: strict({ from: { enum: ['All', 'Selector', 'Same'] }, selector: { type: 'object' } }),
            }),
          },
          ['name', 'port', 'protocol'],
        ),
      },
    },
    ['gatewayClassName', 'listeners'],
  ),
);

const httpRoute = resource(
  'gateway.networking.k8s.io/v1',
  'HTTPRoute',
  strict({
    parentRefs: { type: 'array', maxItems: 32, items: parentReference },
    hostnames: { type: 'array', maxItems: 16, items: hostname },
    rules: {
      type: 'array',
      maxItems: 16,
      items: strict({
        matches: {
          type: 'array',
          items: strict({
            path: strict({
              type: { enum: ['Exact', 'PathPrefix', 'RegularExpression'] },
              value: { type: 'string', pattern: '^/', maxLength: 1024 },
            }),
          }),
        },
        backendRefs: { type: 'array', items: backendRef },
      }),
    },
  }),
);

const certificate = resource(
  'cert-manager.io/v1',
  'Certificate',
  strict(
    {
      secretName: name,
      dnsNames: { type: 'array', minItems: 1, items: hostname },
      issuerRef: strict({ group: { type: 'string' }, kind: { type: 'string' }, name }, ['name']),
    },
    ['secretName', 'issuerRef'],
  ),
);

const envoyProxy = resource(
  'gateway.envoyproxy.io/v1alpha1',
  'EnvoyProxy',
  strict({
    telemetry: strict({
      tracing: strict(
        {
          samplingRate: { type: 'integer', minimum: 0, maximum: 100 },
          provider: strict(
            {
              type: { enum: ['OpenTelemetry', 'Zipkin', 'Datadog'] },
              backendRefs: { type: 'array', maxItems: 1, items: backendRef },
              zipkin: strict({ enable128BitTraceId: { type: 'boolean' }, disableSharedSpanContext: { type: 'boolean' } }),
            },
            ['type'],
          ),
        },
        ['provider'],
      ),
    }),
  }),
);

/** Schemas by "apiVersion/kind". */
export const crdSchemas: Record<string, object> = {
  'gateway.networking.k8s.io/v1/Gateway': gateway,
  'gateway.networking.k8s.io/v1/HTTPRoute': httpRoute,
  'cert-manager.io/v1/Certificate': certificate,
  'gateway.envoyproxy.io/v1alpha1/EnvoyProxy': envoyProxy,
};
