// The two CRI calls the node tests need, made the way kubelet makes them: gRPC over HTTP/2 on
// containerd's unix socket. No crictl in Debian and no gRPC library here; the messages are tiny,
// so the protobuf is written by hand (field numbers as in k8s.io/cri-api runtime/v1):
//   PullImageRequest { ImageSpec image = 1; }   ImageSpec { string image = 1; }
//   PullImageResponse { string image_ref = 1; }
//   RemoveImageRequest { ImageSpec image = 1; }
// Not a test file itself.
import { connect as h2connect, constants } from "node:http2";
import { connect as netConnect } from "node:net";

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited field (wire type 2). */
function field(num: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((num << 3) | 2), varint(payload.length), payload]);
}

function imageSpec(image: string): Buffer {
  return field(1, field(1, Buffer.from(image)));
}

/** First length-delimited field 1 of a message, as text (PullImageResponse.image_ref). */
function firstString(msg: Buffer): string {
  if (msg.length === 0) return "";
  let i = 1; // tag byte 0x0a
  let len = 0;
  let shift = 0;
  for (;;) {
    const b = msg[i++] ?? 0;
    len |= (b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) break;
  }
  return msg.subarray(i, i + len).toString();
}

export class CriError extends Error {
  override name = "CriError";
}

async function call(socket: string, method: string, request: Buffer, timeoutMs = 30_000) {
  const session = h2connect("http://localhost", { createConnection: () => netConnect(socket) });
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      session.on("error", reject);
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: `/runtime.v1.${method}`,
        "content-type": "application/grpc",
        te: "trailers",
      });
      const timer = setTimeout(() => {
        stream.close();
        reject(new CriError(`${method}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = "";
      const take = (headers: Record<string, unknown>) => {
        if (headers["grpc-status"] !== undefined) {
          status = String(headers["grpc-status"]);
          message = decodeURIComponent(String(headers["grpc-message"] ?? ""));
        }
      };
      stream.on("response", take);
      stream.on("trailers", take);
      stream.on("data", (b: Buffer) => chunks.push(b));
      stream.on("error", err => {
        clearTimeout(timer);
        reject(err);
      });
      stream.on("end", () => {
        clearTimeout(timer);
        if (status !== "0") {
          reject(new CriError(`${method}: grpc-status ${status ?? "missing"}: ${message}`));
          return;
        }
        const body = Buffer.concat(chunks);
        resolve(body.subarray(5, 5 + body.readUInt32BE(1)));
      });
      const frame = Buffer.alloc(5);
      frame.writeUInt32BE(request.length, 1);
      stream.end(Buffer.concat([frame, request]));
    });
  } finally {
    session.close();
  }
}

/** CRI PullImage, as kubelet asks for an image; resolves with the image ref (digest). */
export async function criPullImage(socket: string, image: string): Promise<string> {
  return firstString(await call(socket, "ImageService/PullImage", imageSpec(image)));
}

/** CRI RemoveImage. */
export async function criRemoveImage(socket: string, image: string): Promise<void> {
  await call(socket, "ImageService/RemoveImage", imageSpec(image));
}
