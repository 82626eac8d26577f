/**
 * imageservice: an image URL per account, shipped sample images toned sepia, and
 * sepia toning of posted JPEGs, in worker threads (toning.ts) within the limits of limits.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { headAnswer, isHead } from '../../lib/head.ts';
import { instanceName } from '../../lib/instance.ts';
import { runService } from '../../lib/service.ts';
import { admitJpeg, ImageTooLargeError, MAX_UPLOAD_BYTES, maxPixelsFromEnv, NotAnImageError, UPLOAD_TOO_LARGE } from './limits.ts';
import { Toning, ToningBusyError, toningFromEnv } from './toning.ts';

const SAMPLES_DIR = new URL('./samples/', import.meta.url);

/**
 * The body ended before its declared length or its last chunk, or its chunked framing is broken: the
 * client's doing (it went away, or sent what is not HTTP), answered 400 rather than logged as the
 * service's failure. A client that went away never reads the answer; the access line and span say what happened.
 */
const UNREADABLE_BODY = 'request body could not be read to its end: the connection closed early or its framing is malformed';

await runService({
  name: 'imageservice',
  defaultPort: 7777,
  setup: ({ env }) => {
    // Image URLs point back at this service as the caller reached it, unless told otherwise.
    const publicUrl = env.optionalUrl('PUBLIC_URL');
    const toning = new Toning(toningFromEnv(env));
    const maxPixels = maxPixelsFromEnv(env);
    // The sample folder is read once: a request can only name a file in this list.
    const samples = new Map(
      readdirSync(SAMPLES_DIR)
        .filter((name) => name.endsWith('.jpg'))
        .sort()
        .map((name) => {
          return [name, admitted(readFileSync(new URL(name, SAMPLES_DIR)))] as const;
        }),
    );
    const names = [...samples.keys()];
    if (names.length === 0) throw new Error(`no sample images in ${SAMPLES_DIR.pathname}`);
    const servedBy = instanceName();

    /** The toned image, or the JSON error naming the limit or the problem. */
    const toned = async (c: Context, { bytes, pixels }: AdmittedImage) => {
      try {
        return c.body(await toning.tone(bytes, pixels, c.get('span')), 200, { 'content-type': 'image/jpeg' });
      } catch (error) {
        if (error instanceof ToningBusyError) {
          return c.json({ error: error.message }, 503, { 'retry-after': String(error.retryAfterSeconds) });
        }
        if (error instanceof NotAnImageError) return c.json({ error: error.message }, 400);
        throw error;
      }
    };

    return {
      routes(app) {
        app.get('/accounts/:accountId', (c) => {
          const accountId = c.req.param('accountId');
          if (!/^\d{1,10}$/.test(accountId)) return c.json({ error: 'accountId must be 1 to 10 digits' }, 400);
          const name = names[Number(accountId) % names.length];
          const base = publicUrl || new URL(c.req.url).origin;
          return c.json({ url: `${base}/file/${name}`, servedBy });
        });

        app.get('/file/:filename', (c) => {
          const filename = c.req.param('filename');
          const sample = samples.get(filename);
          if (!sample) return c.json({ error: `no sample image named ${JSON.stringify(filename.slice(0, 100))}` }, 404);
          // Toning is the GET's work; its length is known only once it is done.
          if (isHead(c)) return headAnswer(c, 'image/jpeg');
          return toned(c, sample);
        });

        const tooLarge = (c: Context, message = UPLOAD_TOO_LARGE) => c.json({ error: message }, 413);
        app.post(
          '/image',
          // A declared length is refused before the body stream is opened: the Node server can then
          // still drain the unread body, and the connection stays usable for the client's next request.
          async (c, next) => (Number(c.req.header('content-length')) > MAX_UPLOAD_BYTES ? tooLarge(c) : next()),
          async (c) => {
            const body = await uploadBody(c.req.raw);
            if (body === undefined) return c.json({ error: UNREADABLE_BODY }, 400);
            if (body === TOO_LARGE) {
              // A streamed body is abandoned mid-read and the connection cannot be reused: saying so keeps
              // a keep-alive client from sending its next request into a socket about to close.
              c.header('connection', 'close');
              return tooLarge(c);
            }
            const bytes = await uploadedImage(body, c.req.header('content-type') ?? '');
            if (typeof bytes === 'string') return c.json({ error: bytes }, 400);
            let image: AdmittedImage;
            try {
              // Refused here, at once and on the event loop, is whatever the headers show cannot or must not be decoded.
              image = admitted(bytes, maxPixels);
            } catch (error) {
              if (error instanceof ImageTooLargeError) return tooLarge(c, error.message);
              if (error instanceof NotAnImageError) return c.json({ error: error.message }, 400);
              throw error;
            }
            return toned(c, image);
          },
        );
      },
      details: () => ({ toning: toning.details, maxPixels }),
      close: () => toning.close(),
    };
  },
});

/** An image admitJpeg let through, with its pixel count (what toning it costs). */
interface AdmittedImage {
  bytes: Uint8Array;
  pixels: number;
}

/** `bytes` admitted by admitJpeg (which throws what is wrong with them), with their frame's pixels. */
function admitted(bytes: Uint8Array, maxPixels?: number): AdmittedImage {
  const { width, height } = admitJpeg(bytes, maxPixels);
  return { bytes, pixels: width * height };
}

/** What `uploadBody` answers for a body over MAX_UPLOAD_BYTES. */
const TOO_LARGE = Symbol('too large');

/**
 * The request's body, read to its end and no further than MAX_UPLOAD_BYTES (TOO_LARGE beyond),
 * or undefined when it cannot be read to its end (the client went away, or its framing is broken).
 * A body of declared length (at most the limit: checked before) is read at once; one without
 * (chunked) from its stream, counting. The request is read, never copied: a copy of a Request
 * reads its `signal`, which Deno warns about on standard error, a line that is no JSON.
 */
async function uploadBody(request: Request): Promise<Uint8Array | typeof TOO_LARGE | undefined> {
  try {
    if (request.headers.has('content-length') && !request.headers.has('transfer-encoding')) {
      return new Uint8Array(await request.arrayBuffer());
    }
    if (!request.body) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      // Left unread rather than cancelled: on Node, cancelling the body destroys the connection, the 413
      // with it; the server discards the rest of the body itself after the answer.
      if (size > MAX_UPLOAD_BYTES) return TOO_LARGE;
      chunks.push(value);
    }
    const body = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      body.set(chunk, at);
      at += chunk.byteLength;
    }
    return body;
  } catch (error) {
    // The server's bound on a body's arrival (a 408), answered as it says.
    if (error instanceof HTTPException) throw error;
    return undefined;
  }
}

/** The posted image: the raw body, or the first file of a multipart form (by its `type`). A string is the problem. */
async function uploadedImage(body: Uint8Array, type: string): Promise<Uint8Array | string> {
  // Media types are case-insensitive (RFC 9110 §8.3.1).
  if (type.toLowerCase().startsWith('multipart/form-data')) {
    let form: FormData;
    try {
      form = await new Response(body as Uint8Array<ArrayBuffer>, { headers: { 'content-type': type } }).formData();
    } catch {
      return 'malformed multipart body';
    }
    const file = [...form.values()].find((value): value is File => typeof value !== 'string');
    if (!file) return 'multipart body has no file';
    return new Uint8Array(await file.arrayBuffer());
  }
  return body.byteLength === 0 ? 'empty body: post a JPEG image' : body;
}
