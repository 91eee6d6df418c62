// Refresh driven by aws-credproc's Expiration in the AWS SDK for JavaScript v3.
// Run by tests/e2e/test_interop.py:
//
//   node refresh.mjs PROFILE STS_ENDPOINT SECONDS WINDOW_MS
//
// One signed STS GetCallerIdentity per second for SECONDS against a loopback
// STS that issues short-lived credentials and refuses expired ones.
//
// How JS v3 refreshes: fromProcess() itself caches nothing; the client wraps
// its `credentials` provider in @smithy/core's memoizeIdentityProvider(p,
// isIdentityExpired, doesIdentityRequireRefresh), and isIdentityExpired is
// createIsIdentityExpiredFunction(EXPIRATION_MS) with EXPIRATION_MS = 300 000:
// before each request, credentials with less than 5 minutes left are fetched
// again (the request waits for it). A 30-second credential is always inside
// 5 minutes, so unscaled the client would run credential_process on every
// call. We scale the window, not the mechanism: we wrap the provider with the
// same memoizeIdentityProvider and an expiry window of WINDOW_MS, and mark it
// `memoized` so that the client uses it as is instead of wrapping it again
// with the 5-minute window (normalizeCredentialProvider in @aws-sdk/core).
import { fromProcess } from "@aws-sdk/credential-providers";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import {
  createIsIdentityExpiredFunction,
  doesIdentityRequireRefresh,
  EXPIRATION_MS,
  memoizeIdentityProvider,
} from "@smithy/core";

const [profile, endpoint, secondsArg, windowArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const windowMs = Number(windowArg);

const inner = fromProcess({ profile });
const fetched = []; // one entry per credential_process run
const counting = async (options) => {
  const c = await inner(options);
  fetched.push({ at: Date.now() / 1000, accessKeyId: c.accessKeyId,
                 expiration: c.expiration ? c.expiration.toISOString() : null });
  return c;
};
const credentials = memoizeIdentityProvider(
  counting, createIsIdentityExpiredFunction(windowMs), doesIdentityRequireRefresh);
credentials.memoized = true;

const sts = new STSClient({ region: "us-east-1", endpoint, credentials, maxAttempts: 1 });
const calls = [];
const errors = [];
const start = Date.now();
for (let i = 0; i < seconds; i++) {
  const tick = start + i * 1000;
  const wait = tick - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  try {
    const r = await sts.send(new GetCallerIdentityCommand({}));
    calls.push({ at: Date.now() / 1000, ok: true, arn: r.Arn });
  } catch (e) {
    const code = e.Code ?? e.name ?? "Error";
    calls.push({ at: Date.now() / 1000, ok: false, code });
    errors.push({ code, message: String(e.message) });
  }
}
console.log(JSON.stringify({ sdkDefaultWindowMs: EXPIRATION_MS, windowMs, calls: calls.length,
                             ok: calls.filter((c) => c.ok).length, errors, fetched }));
