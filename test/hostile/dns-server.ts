/**
 * A small authoritative DNS server for hostile-network tests: it answers A/AAAA questions for the names it is
 * given, never answers the black-holed ones (reads the query and drops it, as an unreachable authoritative
 * server would look from a recursive resolver), and says NXDOMAIN for everything else. UDP only.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export interface DnsServerOptions {
  /** Name (lower case, no trailing dot) → addresses. */
  answers: Record<string, readonly string[]>;
  /** Questions for names matching this are read and dropped. */
  blackHole: (name: string) => boolean;
  host?: string;
  port?: number;
}

export interface DnsServer {
  address: string;
  port: number;
  /** Questions received, black-holed ones included. */
  readonly queries: string[];
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

function record(type: number, address: string): Buffer {
  const data = Buffer.from(type === 1 ? address.split('.').map(Number) : expandIpv6(address));
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0); // pointer to the question's name
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4); // IN
  head.writeUInt32BE(60, 6); // TTL
  head.writeUInt16BE(data.length, 10);
  return Buffer.concat([head, data]);
}

function expandIpv6(address: string): number[] {
  const [left, right = ''] = address.split('::');
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const groups = [...l, ...Array(8 - l.length - r.length).fill('0'), ...r];
  return groups.flatMap((group) => {
    const value = Number.parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
}

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const socket = dgram.createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (msg, peer) => {
    let question: { name: string; next: number };
    try {
      question = readName(msg, 12);
    } catch {
      return;
    }
    const qtype = msg.readUInt16BE(question.next);
    queries.push(question.name);
    if (options.blackHole(question.name)) return;
    const known = options.answers[question.name];
    const addresses = (known ?? []).filter((a) => net.isIP(a) === (qtype === 28 ? 6 : 4));
    const answers = qtype === 1 || qtype === 28 ? addresses.map((a) => record(qtype, a)) : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
    // QR=1, opcode 0, AA=1, RD copied, RA=1; RCODE 3 (NXDOMAIN) for unknown names.
    const rd = msg[2]! & 0x01;
    header[2] = 0x84 | rd;
    header[3] = 0x80 | (known ? 0 : 3);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const questionBytes = msg.subarray(12, question.next + 4);
    socket.send(Buffer.concat([header, questionBytes, ...answers]), peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = socket.address();
  return {
    address,
    port,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
