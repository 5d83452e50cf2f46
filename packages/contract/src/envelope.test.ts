/**
 * The TS types and the schemas must not drift apart. Each `satisfies` below fails to type-check when
 * a type gains, loses or changes a field (name, required-ness, JSON type, open/closed); each test
 * fails when the schema does.
 */
import { describe, expect, it } from 'vitest';
import type { DeadLetterRecord } from './dead-letter.js';
import type { BatchMeta, Envelope, EnvelopeMeta } from './envelope.js';
import type { DeadLetterReason } from './transport.js';
import { loadSchema } from './vectors.js';

/** The named properties of `T`, without its index signature. */
type Named<T> = { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };
type JsonTypeOf<V> = [V] extends [string]
  ? 'string'
  : [V] extends [number]
    ? 'number'
    : [V] extends [boolean]
      ? 'boolean'
      : [V] extends [readonly unknown[]]
        ? 'array'
        : 'object';
/** What the schema must say about each named property of `T`. */
type Fields<T> = {
  [K in keyof Named<T>]-?: {
    required: {} extends Pick<Named<T>, K> ? false : true;
    type: JsonTypeOf<Exclude<Named<T>[K], undefined>>;
  };
};
/** Whether `T` accepts keys it does not name (an index signature ↔ `additionalProperties` not false). */
type IsOpen<T> = string extends keyof T ? true : false;

interface ObjectShape<T> {
  fields: Fields<T>;
  open: IsOpen<T>;
}

const envelope = {
  fields: {
    event: { required: true, type: 'string' },
    payload: { required: true, type: 'object' },
    meta: { required: false, type: 'object' },
  },
  open: false,
} as const satisfies ObjectShape<Envelope>;

const meta = {
  fields: {
    event_id: { required: true, type: 'string' },
    timestamp: { required: true, type: 'string' },
    source: { required: true, type: 'string' },
    attempt: { required: false, type: 'number' },
    correlation_id: { required: false, type: 'string' },
    causation_id: { required: false, type: 'string' },
    traceparent: { required: false, type: 'string' },
    batch: { required: false, type: 'object' },
    spec_version: { required: false, type: 'string' },
  },
  open: true,
} as const satisfies ObjectShape<EnvelopeMeta>;

const batch = {
  fields: {
    id: { required: true, type: 'string' },
    index: { required: true, type: 'number' },
    total: { required: true, type: 'number' },
  },
  open: true,
} as const satisfies ObjectShape<BatchMeta>;

const deadLetter = {
  fields: {
    queue: { required: true, type: 'string' },
    error: { required: true, type: 'object' },
    attempts: { required: true, type: 'number' },
    failed_at: { required: true, type: 'string' },
    body: { required: false, type: 'string' },
    body_base64: { required: false, type: 'string' },
  },
  open: false,
} as const satisfies ObjectShape<DeadLetterRecord>;

const deadLetterError = {
  fields: {
    code: { required: true, type: 'string' },
    message: { required: true, type: 'string' },
  },
  open: false,
} as const satisfies ObjectShape<DeadLetterReason>;

interface SchemaNode {
  $ref?: string;
  type?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean;
  $defs?: Record<string, SchemaNode>;
}

const schemas: Record<string, SchemaNode> = {
  'envelope.schema.json': loadSchema('envelope.schema.json'),
  'dead-letter.schema.json': loadSchema('dead-letter.schema.json'),
};

/** Follows `$ref`s between the bundled schemas (`#/$defs/x`, `envelope.schema.json#/$defs/x`). */
function resolve(node: SchemaNode, file: string): { node: SchemaNode; file: string } {
  if (!node.$ref) return { node, file };
  const [target = '', pointer = ''] = node.$ref.split('#');
  const targetFile = target === '' ? file : target;
  let resolved: unknown = schemas[targetFile];
  for (const segment of pointer.split('/').filter(Boolean))
    resolved = (resolved as Record<string, unknown>)[segment];
  if (!resolved) throw new Error(`unresolved $ref ${node.$ref} in ${file}`);
  return resolve(resolved as SchemaNode, targetFile);
}

/** The shape a schema object gives, in the same form as the objects above. */
function shapeOf(at: SchemaNode, file: string) {
  const { node, file: nodeFile } = resolve(at, file);
  expect(node.type).toBe('object');
  const required = new Set(node.required ?? []);
  const fields = Object.fromEntries(
    Object.entries(node.properties ?? {}).map(([key, property]) => {
      const type = resolve(property, nodeFile).node.type;
      return [key, { required: required.has(key), type: type === 'integer' ? 'number' : type }];
    }),
  );
  for (const key of required) expect(node.properties, `required ${key} is a property`).toHaveProperty(key);
  return { fields, open: node.additionalProperties !== false };
}

describe('the TS types match the schemas', () => {
  const envelopeSchema = schemas['envelope.schema.json'] as SchemaNode;
  const deadLetterSchema = schemas['dead-letter.schema.json'] as SchemaNode;
  const property = (node: SchemaNode, key: string) => node.properties?.[key] as SchemaNode;

  it('Envelope', () => {
    expect(shapeOf(envelopeSchema, 'envelope.schema.json')).toEqual(envelope);
  });

  it('EnvelopeMeta', () => {
    expect(shapeOf(property(envelopeSchema, 'meta'), 'envelope.schema.json')).toEqual(meta);
  });

  it('BatchMeta', () => {
    const metaNode = resolve(property(envelopeSchema, 'meta'), 'envelope.schema.json').node;
    expect(shapeOf(property(metaNode, 'batch'), 'envelope.schema.json')).toEqual(batch);
  });

  it('DeadLetterRecord and its error', () => {
    expect(shapeOf(deadLetterSchema, 'dead-letter.schema.json')).toEqual(deadLetter);
    expect(shapeOf(property(deadLetterSchema, 'error'), 'dead-letter.schema.json')).toEqual(deadLetterError);
  });

  it('describes and exemplifies every property, like the cloudevents spec', () => {
    const missing: string[] = [];
    const walk = (node: SchemaNode, file: string, path: string) => {
      for (const [key, child] of Object.entries(node.properties ?? {})) {
        const { node: target } = resolve(child, file);
        const described =
          (child as { description?: string }).description ?? (target as { description?: string }).description;
        const examples =
          (child as { examples?: unknown[] }).examples ?? (target as { examples?: unknown[] }).examples;
        if (!described) missing.push(`${path}/${key}: description`);
        if (!examples?.length) missing.push(`${path}/${key}: examples`);
        walk(target, file, `${path}/${key}`);
      }
    };
    walk(envelopeSchema, 'envelope.schema.json', 'envelope');
    walk(deadLetterSchema, 'dead-letter.schema.json', 'dead-letter');
    expect(missing).toEqual([]);
  });
});
