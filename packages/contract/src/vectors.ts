import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The language-neutral test vectors and schemas shipped with the package (`schemas/`, a copy of the
 * repository's), loaded from disk, so this package's tests, the conformance kit and other runtimes'
 * harnesses all run the same files. `schemas/README.md` documents the formats.
 */

/** Absolute path of the bundled `schemas/` directory (`envelope.schema.json`, `vectors/`, …). */
export const schemasDirectory: string = fileURLToPath(new URL('../schemas/', import.meta.url));

/** Absolute path of the bundled `schemas/vectors/` directory. */
export const vectorsDirectory: string = join(schemasDirectory, 'vectors');

/** One `schemas/vectors/envelope/*.json` suite (JSON-Schema-Test-Suite shape). */
export interface EnvelopeVectorSuite {
  /** The file it came from, relative to `vectors/`, e.g. `envelope/meta-timestamp.json`. */
  file: string;
  description: string;
  schema: { $ref: string } & Record<string, unknown>;
  tests: EnvelopeVector[];
}

export interface EnvelopeVector {
  description: string;
  data: unknown;
  valid: boolean;
}

/** What decoding a codec vector's bytes must produce: this envelope, or an error with this code. */
export type CodecExpectation = { envelope: Record<string, unknown> } | { error: CodecErrorCode };

export type CodecErrorCode =
  | 'payload_too_large'
  | 'invalid_utf8'
  | 'invalid_json'
  | 'duplicate_key'
  | 'forbidden_key'
  | 'too_deep'
  | 'unsafe_integer'
  | 'schema_violation';

/** The raw form of a case in `schemas/vectors/codec/*.json`: exactly one of the three inputs. */
export interface CodecVectorCase {
  description: string;
  input?: string;
  input_base64?: string;
  input_repeat?: { prefix: string; repeat: string; count: number; suffix: string };
  expect: CodecExpectation;
}

/** A codec case with its input turned into the bytes to decode. */
export interface CodecVector {
  /** `codec/<file>.json: <file description> › <case description>`, unique across the vectors. */
  name: string;
  file: string;
  description: string;
  bytes: Uint8Array;
  expect: CodecExpectation;
}

const utf8 = new TextEncoder();

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function jsonFiles(folder: string): string[] {
  return readdirSync(join(vectorsDirectory, folder))
    .filter((name) => name.endsWith('.json'))
    .sort();
}

/** Every envelope suite, in file order. */
export function loadEnvelopeVectors(): EnvelopeVectorSuite[] {
  return jsonFiles('envelope').flatMap((name) => {
    const file = `envelope/${name}`;
    const suites = readJson(join(vectorsDirectory, file)) as Omit<EnvelopeVectorSuite, 'file'>[];
    return suites.map((suite) => ({ file, ...suite }));
  });
}

/** Every codec case, in file order, with its bytes materialised (`input`, `input_base64` or `input_repeat`). */
export function loadCodecVectors(): CodecVector[] {
  return jsonFiles('codec').flatMap((name) => {
    const file = `codec/${name}`;
    const { description, cases } = readJson(join(vectorsDirectory, file)) as {
      description: string;
      cases: CodecVectorCase[];
    };
    return cases.map((vector) => ({
      name: `${file}: ${description} › ${vector.description}`,
      file,
      description: vector.description,
      bytes: codecVectorBytes(vector),
      expect: vector.expect,
    }));
  });
}

/** Both kinds of vectors. */
export function loadVectors(): { envelope: EnvelopeVectorSuite[]; codec: CodecVector[] } {
  return { envelope: loadEnvelopeVectors(), codec: loadCodecVectors() };
}

/** The bytes a codec case describes. */
export function codecVectorBytes(vector: CodecVectorCase): Uint8Array {
  if (typeof vector.input === 'string') return utf8.encode(vector.input);
  if (typeof vector.input_base64 === 'string')
    return new Uint8Array(Buffer.from(vector.input_base64, 'base64'));
  if (vector.input_repeat) {
    const { prefix, repeat, count, suffix } = vector.input_repeat;
    return utf8.encode(prefix + repeat.repeat(count) + suffix);
  }
  throw new Error(`[thrun:contract] codec vector ${JSON.stringify(vector.description)} has no input`);
}

/** A bundled schema by file name, e.g. `loadSchema('envelope.schema.json')`. */
export function loadSchema(
  name: 'envelope.schema.json' | 'dead-letter.schema.json' | (string & {}),
): Record<string, unknown> {
  if (name.includes('/') || name.includes('\\') || !name.endsWith('.schema.json')) {
    throw new Error(`[thrun:contract] not a bundled schema name: ${JSON.stringify(name)}`);
  }
  return readJson(join(schemasDirectory, name)) as Record<string, unknown>;
}
