/**
 * The kit's authoritative DNS server for namespace mode: A/AAAA answers for the names it is given, each name
 * with a sequence of answers (every query takes the next one, the last one repeats: TTL-0 rebinding) and a TTL.
 * A name ending with a dot is the same name. Everything else is NXDOMAIN. UDP only.
 */
import dgram from 'node:dgram';
import net from 'node:net';

interface Entry {
  answers: string[][];
  ttl: number;
  asked: number;
}

export interface KitDns {
  /** Sets (or replaces) the answers for `name`. */
  set(name: string, answers: string[][], ttl?: number): void;
  /** Queries received per name (A and AAAA counted separately). */
  queries(name: string): number;
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let at = offset;
  while (at < msg.length) {
    const length = msg[at]!;
    if (length === 0) return { name: labels.join('.').toLowerCase(), next: at + 1 };
    labels.push(msg.subarray(at + 1, at + 1 + length).toString('latin1'));
    at += 1 + length;
  }
  throw new Error('truncated name');
}

function expandIpv6(address: string): number[] {
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  let text = address;
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${address.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right = ''] = text.split('::');
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const groups = [...l, ...Array(8 - l.length - r.length).fill('0'), ...r];
  return groups.flatMap((group) => {
    const value = Number.parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}

function record(type: number, address: string, ttl: number): Buffer {
  const data = Buffer.from(type === 1 ? address.split('.').map(Number) : expandIpv6(address));
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt32BE(ttl, 6);
  head.writeUInt16BE(data.length, 10);
  return Buffer.concat([head, data]);
}

export async function startKitDns(host = '127.0.0.1', port = 53): Promise<KitDns> {
  const entries = new Map<string, Entry>();
  const counts = new Map<string, number>();
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, peer) => {
    let question: { name: string; next: number };
    try {
      question = readName(msg, 12);
    } catch {
      return;
    }
    const qtype = msg.readUInt16BE(question.next);
    const name = question.name.replace(/\.$/, '');
    counts.set(name, (counts.get(name) ?? 0) + 1);
    const entry = entries.get(name);
    let addresses: string[] = [];
    if (entry && (qtype === 1 || qtype === 28)) {
      // A and AAAA of one lookup come in pairs: the sequence advances on the A question.
      const index = Math.min(entry.asked, entry.answers.length - 1);
      if (qtype === 1) entry.asked++;
      addresses = (entry.answers[index] ?? []).filter((a) => net.isIP(a) === (qtype === 28 ? 6 : 4));
    }
    const answers = addresses.map((a) => record(qtype, a, entry?.ttl ?? 60));
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    header[2] = 0x84 | (msg[2]! & 0x01);
    header[3] = 0x80 | (entry ? 0 : 3);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, msg.subarray(12, question.next + 4), ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, host, () => resolve());
  });
  return {
    set(name, answers, ttl = 60) {
      entries.set(name.toLowerCase().replace(/\.$/, ''), { answers, ttl, asked: 0 });
    },
    queries: (name) => counts.get(name.toLowerCase()) ?? 0,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
