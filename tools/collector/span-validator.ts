/**
 * Validates POSTed span lists against the `Span` definition of the Zipkin v2 API spec, with the
 * JSON schema derived from the vendored zipkin2-api.yaml rather than written by hand.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import type { ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { isAllZeros } from './span.ts';
import type { Span } from './span.ts';

export const SPEC_URL = new URL('./zipkin2-api.yaml', import.meta.url);

/** One reason a request was refused; `span` is the index in the posted array. */
export interface SpanProblem {
  span?: number;
  field: string;
  message: string;
}

export type SpanListValidation =
  | { valid: true; spans: Span[] }
  | { valid: false; problems: SpanProblem[] };

export type SpanListValidator = (body: unknown) => SpanListValidation;

type JsonObject = { [key: string]: unknown };

// Keeps a hostile request from producing a huge error response.
const MAX_PROBLEMS = 100;

/** Builds a validator from the spec text (the vendored copy unless given). */
export function createSpanListValidator(specText: string = readFileSync(SPEC_URL, 'utf8')): SpanListValidator {
  const spec = parseYaml(specText) as { definitions?: JsonObject };
  if (!spec.definitions) throw new Error('Zipkin API spec has no definitions');

  const ajv = new Ajv({ strict: false, allErrors: true });
  // ajv-formats supplies ipv4/ipv6 and the spec's int64 so those formats are checked, not ignored.
  addFormatsModule.default(ajv);
  const validateList = ajv.compile({
    definitions: anchorPatterns(spec.definitions),
    $ref: '#/definitions/ListOfSpans',
  });

  return (body) => {
    if (!Array.isArray(body)) {
      return { valid: false, problems: [{ field: '', message: 'request body must be a JSON array of spans' }] };
    }
    const problems = validateList(body) ? [] : (validateList.errors ?? []).map(toProblem);
    if (problems.length === 0) {
      body.forEach((span: Span, index) => problems.push(...identifierProblems(span, index)));
    }
    return problems.length === 0
      ? { valid: true, spans: body as Span[] }
      : { valid: false, problems: problems.slice(0, MAX_PROBLEMS) };
  };
}

/**
 * JSON-schema patterns match anywhere in a string, so the spec's `[a-f0-9]{16}` would accept
 * "xyz0123456789abcdef0". Its prose means the whole value, so every pattern is anchored.
 */
function anchorPatterns(schema: unknown): JsonObject {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => [
        key,
        key === 'pattern' && typeof value === 'string' ? `^(?:${value})$` : walk(value),
      ]),
    );
  };
  return walk(schema) as JsonObject;
}

/**
 * Rules the spec states in prose but not in its schema: a trace id is 16 or 32 hex characters
 * (the schema's {16,32} would admit 20), and ids are never all zeros (Zipkin rejects those).
 */
function identifierProblems(span: Span, index: number): SpanProblem[] {
  const problems: SpanProblem[] = [];
  if (span.traceId.length !== 16 && span.traceId.length !== 32) {
    problems.push({ span: index, field: 'traceId', message: 'must be 16 or 32 lowercase hex characters' });
  } else if (isAllZeros(span.traceId)) {
    problems.push({ span: index, field: 'traceId', message: 'must not be all zeros' });
  }
  if (isAllZeros(span.id)) problems.push({ span: index, field: 'id', message: 'must not be all zeros' });
  return problems;
}

/** Turns ajv's "/3/annotations/0/value" into span 3, field "annotations[0].value". */
function toProblem(error: ErrorObject): SpanProblem {
  const [index, ...path] = error.instancePath.split('/').slice(1).map(unescapePointer);
  if (error.keyword === 'required') path.push(String(error.params['missingProperty']));
  const field = path.map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`)).join('');
  return {
    ...(index === undefined ? {} : { span: Number(index) }),
    field: field.replace(/^\./, ''),
    message: describe(error),
  };
}

function describe(error: ErrorObject): string {
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'enum':
      return `must be one of ${(error.params['allowedValues'] as unknown[]).join(', ')}`;
    case 'pattern':
      return `must match ${error.params['pattern']}`;
    case 'format':
      return `must be a valid ${error.params['format']}`;
    default:
      return error.message ?? error.keyword;
  }
}

function unescapePointer(segment: string): string {
  return segment.replaceAll('~1', '/').replaceAll('~0', '~');
}
