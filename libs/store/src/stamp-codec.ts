import { decodeHlc, encodeHlc, type Stamp } from '#crdt';

/** A stamp on disk: the 8-byte HLC, then the node id's UTF-8 bytes to the end. */
export function encodeStamp(stamp: Stamp): Uint8Array {
  return Buffer.concat([encodeHlc(stamp.hlc), Buffer.from(stamp.node, 'utf8')]);
}

export function decodeStamp(bytes: Uint8Array, offset = 0): Stamp {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { hlc: decodeHlc(buf, offset), node: buf.toString('utf8', offset + 8) };
}
