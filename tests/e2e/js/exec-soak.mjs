// A job under `aws-credproc exec`: the AWS SDK for JavaScript v3's default
// chain (no profile, no config) finds AWS_CONTAINER_CREDENTIALS_FULL_URI and
// AWS_CONTAINER_AUTHORIZATION_TOKEN. Run by tests/e2e/test_exec.py:
//
//   node exec-soak.mjs STS_ENDPOINT SECONDS
//
// One signed STS GetCallerIdentity per second for SECONDS; prints a JSON
// summary (calls, ok, errors by code, the access keys the job signed with).
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";

const [endpoint, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const sts = new STSClient({ region: "us-east-1", endpoint, maxAttempts: 1 });
let calls = 0, ok = 0;
const errors = {};
const keys = [];
const start = Date.now();
for (let i = 0; i < seconds; i++) {
  const wait = start + i * 1000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  calls++;
  try {
    await sts.send(new GetCallerIdentityCommand({}));
    ok++;
    const c = await sts.config.credentials();
    if (!keys.includes(c.accessKeyId)) keys.push(c.accessKeyId);
  } catch (e) {
    const code = e.Code ?? e.name ?? "Error";
    errors[code] = (errors[code] ?? 0) + 1;
  }
}
console.log(JSON.stringify({ calls, ok, errors, keys }));
