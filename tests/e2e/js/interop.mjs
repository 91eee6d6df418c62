// AWS SDK for JavaScript v3 reading aws-credproc's output through
// credential_process, then making signed calls that moto (SigV4 and IAM
// enforced) must accept.  Run by tests/e2e/test_interop.py:
//
//   node interop.mjs PROFILE STS_ENDPOINT S3_ENDPOINT BUCKET
//
// PROFILE's credential_process runs `aws-credproc --profile <role profile>`.
// Prints one JSON line on stdout; on an SDK error prints {"error": ...} and
// exits 1.
import { fromIni, fromProcess } from "@aws-sdk/credential-providers";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";

const [profile, stsEndpoint, s3Endpoint, bucket] = process.argv.slice(2);
const region = "us-east-1";

const view = (c) => ({
  accessKeyId: c.accessKeyId,
  secretAccessKey: c.secretAccessKey,
  sessionToken: c.sessionToken,
  expiration: c.expiration ? c.expiration.toISOString() : null,
  accountId: c.accountId ?? null,
});

async function main() {
  const out = {};
  // 1. the providers alone: what they make of our JSON
  out.fromProcess = view(await fromProcess({ profile })());
  out.fromIni = view(await fromIni({ profile })());

  // 2. a signed STS call with fromProcess credentials (through the recording
  //    proxy, so the test can see which access key signed it)
  const sts = new STSClient({
    region, endpoint: stsEndpoint, maxAttempts: 1,
    credentials: fromProcess({ profile }),
  });
  out.stsArn = (await sts.send(new GetCallerIdentityCommand({}))).Arn;

  // 3. the default provider chain, as an application would use it
  //    (AWS_PROFILE=PROFILE in the environment, no credentials option)
  const stsChain = new STSClient({ region, endpoint: stsEndpoint, maxAttempts: 1 });
  out.chainArn = (await stsChain.send(new GetCallerIdentityCommand({}))).Arn;

  // 4. S3 PutObject/GetObject with fromIni credentials, path-style
  const s3 = new S3Client({
    region, endpoint: s3Endpoint, forcePathStyle: true, maxAttempts: 1,
    credentials: fromIni({ profile }),
  });
  const key = "via-js-v3-credential-process";
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "written by JS v3" }));
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  out.s3Body = await got.Body.transformToString();
  return out;
}

main().then(
  (out) => console.log(JSON.stringify(out)),
  (e) => {
    console.log(JSON.stringify({ error: e.name, code: e.Code ?? e.code ?? null, message: String(e.message) }));
    process.exitCode = 1;
  },
);
