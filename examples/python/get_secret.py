#!/usr/bin/env python3
"""Read a secret from the secretcache agent with the Python standard library.

Works unchanged against the AWS Secrets Manager Agent and the AWS Parameters
and Secrets Lambda Extension: same URL, header, token and JSON.

    AWS_TOKEN=... python3 get_secret.py demo/db              # whole value
    AWS_TOKEN=... python3 get_secret.py demo/db password     # one JSON key

Environment:
    SECRETCACHE_AGENT_URL   the agent (default http://127.0.0.1:2773)
    AWS_TOKEN, AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN
                            the token, first one set wins; file:///path reads a file
"""
import base64
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

AGENT_URL = os.environ.get("SECRETCACHE_AGENT_URL", "http://127.0.0.1:2773")
TOKEN_VARS = ("AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN")

# Talk to the agent directly: a proxy would add X-Forwarded-For, which the
# agent refuses (400), and has no business seeing secrets.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SecretError(Exception):
    """An error answer of the agent: HTTP status, AWS error code, message."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def agent_token():
    for name in TOKEN_VARS:
        value = os.environ.get(name)
        if value is None:
            continue
        if value.startswith("file://"):
            with open(value[len("file://"):], encoding="utf-8") as f:
                return f.read().strip()
        return value
    raise SecretError(0, "NoToken", "set AWS_TOKEN to the agent's token")


def get_secret(secret_id, field=None, version_stage=None, version_id=None, timeout=5.0):
    """Return the agent's answer: a dict with ARN, Name, VersionId,
    SecretString (or SecretBinary, base64), VersionStages, CreatedDate.
    With field, SecretString holds that top-level key of a JSON secret."""
    query = {"secretId": secret_id}
    if field:
        query["field"] = field
    if version_stage:
        query["versionStage"] = version_stage
    if version_id:
        query["versionId"] = version_id
    url = f"{AGENT_URL}/secretsmanager/get?{urllib.parse.urlencode(query)}"
    req = urllib.request.Request(url, headers={"X-Aws-Parameters-Secrets-Token": agent_token()})
    try:
        with _opener.open(req, timeout=timeout) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as err:
        body = err.read().decode("utf-8", "replace")
        try:
            doc = json.loads(body)
            raise SecretError(err.code, doc.get("__type", ""), doc.get("message", "")) from None
        except ValueError:
            raise SecretError(err.code, "", body) from None


def secret_value(answer):
    """The value of an answer: the string, or the decoded bytes of a binary secret."""
    if "SecretString" in answer:
        return answer["SecretString"]
    return base64.b64decode(answer["SecretBinary"])


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: get_secret.py SECRET_ID [JSON_KEY]", file=sys.stderr)
        return 2
    try:
        answer = get_secret(argv[1], field=argv[2] if len(argv) == 3 else None)
    except SecretError as err:
        print(f"get_secret.py: {argv[1]}: {err}", file=sys.stderr)
        return 3 if err.code == "ResourceNotFoundException" else 1
    except OSError as err:
        print(f"get_secret.py: cannot reach the agent at {AGENT_URL}: {err}", file=sys.stderr)
        return 5
    value = secret_value(answer)
    if isinstance(value, bytes):
        sys.stdout.buffer.write(value)
    else:
        sys.stdout.write(value)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
