// IP address syntax, with ipaddr.js instead of node:net: node:net brings Node's TCP and pipe
// bindings into the hooks' start-up snapshot, and every hook run paid for restoring them
// (≈ 2 ms of CPU, docs/adr/0165). ipaddr.js parses the same addresses as net.isIP.
import ipaddr from "ipaddr.js";

/**
 * 4 for an IPv4 address in dotted decimal (no leading zeros), 6 for an IPv6 address, 0 for
 * anything else, as node:net's isIP. Only text with a `:` is tried as IPv6: the IPv4 check is the
 * cheap one, and most hosts are names or IPv4.
 */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (text.includes(":")) return ipaddr.IPv6.isValid(text) ? 6 : 0;
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? 4 : 0;
}
