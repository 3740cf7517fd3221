// ipFamily (lib/validation/ip.ts) replaces node:net's isIP in the hooks (docs/adr/0165): the same
// answer for every address a setting, a node or a certificate can carry, checked against isIP
// itself; where the two differ (zone ids of unusual characters, a leading zero in an embedded
// IPv4 part) it is said here.
import { isIP } from "node:net";
import { describe, expect, it } from "vitest";
import { ipFamily } from "../../lib/validation/ip";

const SAME = [
  "1.2.3.4",
  "0.0.0.0",
  "255.255.255.255",
  "10.0.3.231",
  "01.2.3.4",
  "1.2.3.04",
  "1.2.3",
  "1.2.3.4.5",
  "256.1.1.1",
  "0x1.2.3.4",
  "1e1.1.1.1",
  " 1.2.3.4",
  "1.2.3.4 ",
  "",
  "registry.deckhouse.io",
  "localhost",
  "::",
  "::1",
  "1::",
  "2001:db8::",
  "2001:DB8::1",
  "1:2:3:4:5:6:7:8",
  "1:2:3:4:5:6:7:8:9",
  "1:2:3:4:5:6:7::",
  "::2:3:4:5:6:7:8",
  "1:2:3:4:5:6:7:8::",
  "1::2::3",
  "[::1]",
  "::ffff:1.2.3.4",
  "::ffff:256.1.1.1",
  "::ffff:1.2.3",
  "1:2:3:4:5:6:1.2.3.4",
  "fe80::1%eth0",
  "fe80::1%",
  "fe80::1%25eth0",
];

describe("ipFamily", () => {
  it.each(SAME)("answers %j as node:net's isIP does", text => {
    expect(ipFamily(text)).toBe(isIP(text));
  });

  it("differs from isIP only where no registry address goes", () => {
    // isIP allows '-', '.' and ':' in a zone id; ipaddr.js does not
    expect([isIP("fe80::1%a-b"), ipFamily("fe80::1%a-b")]).toEqual([6, 0]);
    // ipaddr.js allows a leading zero in an IPv6 address's IPv4 part; isIP does not
    expect([isIP("::ffff:01.2.3.4"), ipFamily("::ffff:01.2.3.4")]).toEqual([0, 6]);
  });
});
