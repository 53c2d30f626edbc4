#!/usr/bin/env node
// Read a secret from the secretcache agent with Node's built-in fetch
// (Node 18 or later, no packages). Works unchanged against the AWS Secrets
// Manager Agent and the AWS Parameters and Secrets Lambda Extension.
//
//   AWS_TOKEN=... node get-secret.mjs demo/db            # whole value
//   AWS_TOKEN=... node get-secret.mjs demo/db password   # one JSON key
//
// Environment: SECRETCACHE_AGENT_URL (default http://127.0.0.1:2773); the
// token in AWS_TOKEN, AWS_SESSION_TOKEN or AWS_CONTAINER_AUTHORIZATION_TOKEN
// (first one set wins; file:///path reads a file).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const AGENT_URL = process.env.SECRETCACHE_AGENT_URL ?? 'http://127.0.0.1:2773';
const TOKEN_VARS = ['AWS_TOKEN', 'AWS_SESSION_TOKEN', 'AWS_CONTAINER_AUTHORIZATION_TOKEN'];

export class SecretError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    Object.assign(this, { status, code, detail: message });
  }
}

export function agentToken() {
  for (const name of TOKEN_VARS) {
    const value = process.env[name];
    if (value === undefined) continue;
    if (value.startsWith('file://')) return readFileSync(value.slice('file://'.length), 'utf8').trim();
    return value;
  }
  throw new SecretError(0, 'NoToken', "set AWS_TOKEN to the agent's token");
}

// getSecret returns the agent's answer: { ARN, Name, VersionId, SecretString
// (or SecretBinary, base64), VersionStages, CreatedDate }. With field,
// SecretString holds that top-level key of a JSON secret.
export async function getSecret(secretId, { field, versionStage, versionId, timeoutMs = 5000 } = {}) {
  const query = new URLSearchParams({ secretId });
  if (field) query.set('field', field);
  if (versionStage) query.set('versionStage', versionStage);
  if (versionId) query.set('versionId', versionId);
  const resp = await fetch(`${AGENT_URL}/secretsmanager/get?${query}`, {
    headers: { 'X-Aws-Parameters-Secrets-Token': agentToken() },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = await resp.text();
  if (!resp.ok) {
    let code = '';
    let message = body;
    try {
      ({ __type: code = '', message = '' } = JSON.parse(body));
    } catch { /* a plain-text error of the agent */ }
    throw new SecretError(resp.status, code, message);
  }
  return JSON.parse(body);
}

// secretValue returns the string value, or a Buffer for a binary secret.
export function secretValue(answer) {
  return 'SecretString' in answer ? answer.SecretString : Buffer.from(answer.SecretBinary, 'base64');
}

async function main(argv) {
  if (argv.length < 1 || argv.length > 2) {
    process.stderr.write('usage: get-secret.mjs SECRET_ID [JSON_KEY]\n');
    return 2;
  }
  try {
    const answer = await getSecret(argv[0], { field: argv[1] });
    process.stdout.write(secretValue(answer));
    return 0;
  } catch (err) {
    if (err instanceof SecretError) {
      process.stderr.write(`get-secret.mjs: ${argv[0]}: ${err.message}\n`);
      return err.code === 'ResourceNotFoundException' ? 3 : 1;
    }
    process.stderr.write(`get-secret.mjs: cannot reach the agent at ${AGENT_URL}: ${err.cause?.message ?? err.message}\n`);
    return 5;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
