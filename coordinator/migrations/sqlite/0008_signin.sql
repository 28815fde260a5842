-- Sign-in with a NEAR account (NEP-413): challenges issued by POST /auth/challenge, deleted when
-- used (single use) or expired. In the database (not in process memory) so that a challenge
-- issued by one coordinator replica can be used on another.
CREATE TABLE signin_challenges (
    nonce       TEXT PRIMARY KEY,
    expires_ms  BIGINT NOT NULL
);
CREATE INDEX signin_challenges_expiry ON signin_challenges (expires_ms);
