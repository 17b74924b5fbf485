import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { MisconfiguredDestinationError } from '../../operators/model/errors.js';

/**
 * Addresses that are never a Qualtrics host: this network, private, shared (CGNAT), loopback,
 * link-local, IETF protocol assignments (192.0.0.0/24), benchmarking (198.18.0.0/15), multicast and
 * reserved (224.0.0.0/3, broadcast included); in IPv6 the unspecified and loopback addresses, the
 * deprecated IPv4-compatible ones (::/96), unique-local, link-local, site-local and multicast.
 */
const NOT_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  NOT_PUBLIC.addSubnet(network, prefix, 'ipv6');

/** An IPv6 address as its eight 16-bit words (a dotted IPv4 tail read as the last two), or undefined. */
const wordsOf = (address: string): number[] | undefined => {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const part = (words: string): number[] =>
    words === '' ? [] : words.split(':').map((word) => Number.parseInt(word, 16));
  const [before, after] = [part(head), tail === undefined ? [] : part(tail)];
  const gap = 8 - before.length - after.length;
  if (gap < 0 || (tail === undefined && gap !== 0)) return undefined;
  return [...before, ...Array<number>(gap).fill(0), ...after];
};

const ipv4Of = (high: number, low: number): string => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;

/**
 * The IPv4 address an IPv6 one stands for, where it carries one: IPv4-mapped (::ffff:0:0/96), NAT64
 * (64:ff9b::/96) and 6to4 (2002::/16, the IPv4 in bits 16-47). Such an address is as public as its IPv4.
 */
const embeddedIpv4Of = (address: string): string | undefined => {
  const words = wordsOf(address);
  if (!words) return undefined;
  const zero = (from: number, to: number): boolean => words.slice(from, to).every((word) => word === 0);
  if (zero(0, 5) && words[5] === 0xffff) return ipv4Of(words[6]!, words[7]!);
  if (words[0] === 0x64 && words[1] === 0xff9b && zero(2, 6)) return ipv4Of(words[6]!, words[7]!);
  if (words[0] === 0x2002) return ipv4Of(words[1]!, words[2]!);
  return undefined;
};

/**
 * Whether `address` (an IP) is one a destination on the internet may have. One carrying an IPv4 counts as that IPv4.
 */
export const isPublicAddress = (address: string): boolean => {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 4) return !NOT_PUBLIC.check(address, 'ipv4');
  const ipv4 = embeddedIpv4Of(address);
  if (ipv4 !== undefined) return !NOT_PUBLIC.check(ipv4, 'ipv4');
  return !NOT_PUBLIC.check(address, 'ipv6');
};

/** Why a connection to `address` for `hostname` is refused. */
export class PrivateAddressError extends MisconfiguredDestinationError {
  override readonly name = 'PrivateAddressError';
  readonly code = 'EPRIVATEADDRESS';

  constructor(hostname: string, address: string) {
    super(
      `refused: ${hostname} resolves to ${address}, a private, loopback, link-local or reserved address ` +
        '(set destination.allowAnyHost: true to send there)',
    );
  }
}

/**
 * A DNS lookup for the HTTP client that answers only public addresses. It is the lookup the socket
 * itself uses, so the check is on the very address connected to: a name that resolves to a public
 * address when checked and to a private one when connecting (DNS rebinding) cannot slip through.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, options.all ? [] : '', 0);
    const refused = addresses.find(({ address }) => !isPublicAddress(address));
    if (refused) return callback(new PrivateAddressError(hostname, refused.address), options.all ? [] : '', 0);
    if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
    const [first] = addresses;
    if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
    callback(null, first.address, first.family);
  });
};

/** An IP literal in a URL is connected to without any lookup: it is checked here instead. */
export const refuseLiteralPrivateHost = (url: string): void => {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0 && !isPublicAddress(host)) throw new PrivateAddressError(host, host);
};
