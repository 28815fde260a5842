"""An ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381) written in plain Python from RFC 9381 section 5
and RFC 8032's arithmetic, independent of the Rust code (outlayer_attest::vrf). The vrf
conformance cases' expected values come from here.

    python3 conformance/tools/ecvrf.py SEED_HEX ALPHA [SEED_HEX ALPHA ...]

prints, for each pair, the public key, pi (the proof), beta (the output) and the vrf-dice roll
(first 8 bytes of beta as a little-endian integer, mod 6, plus 1). It first checks itself
against the three test vectors of RFC 9381 Appendix B.3. Not constant-time: for tests only.
"""
import hashlib, sys
p = 2**255 - 19
q = 2**252 + 27742317777372353535851937790883648493
d = -121665 * pow(121666, p - 2, p) % p
I = pow(2, (p - 1) // 4, p)

def inv(x): return pow(x, p - 2, p)
def add(P, Q):
    x1, y1, z1, t1 = P; x2, y2, z2, t2 = Q
    A = (y1 - x1) * (y2 - x2) % p; B = (y1 + x1) * (y2 + x2) % p
    C = t1 * 2 * d * t2 % p; D = z1 * 2 * z2 % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % p, G * H % p, F * G % p, E * H % p)
def mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1: Q = add(Q, P)
        P = add(P, P); s >>= 1
    return Q
def enc(P):
    x, y, z, _ = P; zi = inv(z); x = x * zi % p; y = y * zi % p
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")
def recover_x(y, sign):
    if y >= p: return None
    x2 = (y * y - 1) * inv(d * y * y + 1) % p
    if x2 == 0: return None if sign else 0
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0: x = x * I % p
    if (x * x - x2) % p != 0: return None
    if (x & 1) != sign: x = p - x
    return x
def dec(s):
    y = int.from_bytes(s, "little"); sign = y >> 255; y &= (1 << 255) - 1
    x = recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % p)
gy = 4 * inv(5) % p
G = (recover_x(gy, 0), gy, 1, recover_x(gy, 0) * gy % p)
sha = lambda b: hashlib.sha512(b).digest()
S = b"\x03"

def keys(sk):
    h = sha(sk); a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8; a |= 1 << 254
    return a, h[32:], enc(mul(a, G))
def h2c(pk, alpha):
    for ctr in range(256):
        P = dec(sha(S + b"\x01" + pk + alpha + bytes([ctr]) + b"\x00")[:32])
        if P is not None: return mul(8, P)
def challenge(*pts): return sha(S + b"\x02" + b"".join(pts) + b"\x00")[:16]
def prove(sk, alpha):
    x, prefix, pk = keys(sk); H = h2c(pk, alpha); hs = enc(H)
    k = int.from_bytes(sha(prefix + hs), "little") % q
    gamma = mul(x, H)
    c = challenge(pk, hs, enc(gamma), enc(mul(k, G)), enc(mul(k, H)))
    s = (k + int.from_bytes(c, "little") * x) % q
    return enc(gamma) + c + s.to_bytes(32, "little")
def beta(pi): return sha(S + b"\x03" + enc(mul(8, dec(pi[:32]))) + b"\x00")
def public(sk): return keys(sk)[2]

RFC_9381_B3 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "",
     "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
     "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "72",
     "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
     "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "af82",
     "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e",
     "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f"),
]

if __name__ == "__main__":
    for sk, alpha, pi, b in RFC_9381_B3:
        got = prove(bytes.fromhex(sk), bytes.fromhex(alpha))
        assert (got.hex(), beta(got).hex()) == (pi, b), f"RFC 9381 B.3 vector with alpha {alpha!r}"
    args = sys.argv[1:]
    for seed, alpha in zip(args[::2], args[1::2]):
        sk = bytes.fromhex(seed)
        pi = prove(sk, alpha.encode())
        out = beta(pi)
        print(f"pk    {public(sk).hex()}\nalpha {alpha}\npi    {pi.hex()}\nbeta  {out.hex()}")
        print(f"roll  {int.from_bytes(out[:8], 'little') % 6 + 1}")
