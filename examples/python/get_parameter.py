#!/usr/bin/env python3
"""Read a Parameter Store parameter from the secretcache agent, as a Lambda
function reads it from the AWS Parameters and Secrets Lambda Extension:
same URL, header, token and JSON, Python standard library only.

    AWS_SESSION_TOKEN=... python3 get_parameter.py /app/db/url
    AWS_SESSION_TOKEN=... python3 get_parameter.py /app/db/password --decrypt
    AWS_SESSION_TOKEN=... python3 get_parameter.py /app/mode --version 2
    AWS_SESSION_TOKEN=... python3 get_parameter.py /app/mode --label stable

Environment:
    SECRETCACHE_AGENT_URL   the agent (default http://127.0.0.1:2773; the
                            extension's port is PARAMETERS_SECRETS_EXTENSION_HTTP_PORT)
    AWS_SESSION_TOKEN       the token (a Lambda has it; also AWS_TOKEN)
"""
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

AGENT_URL = os.environ.get("SECRETCACHE_AGENT_URL", "http://127.0.0.1:2773")

# Talk to the agent directly: a proxy would add X-Forwarded-For (refused).
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ParameterError(Exception):
    """An error answer of the agent: HTTP status, error code, message."""

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def get_parameter(name, decrypt=False, version=None, label=None, timeout=5.0):
    """Return the answer's Parameter: ARN, DataType, LastModifiedDate, Name,
    Selector, SourceResult, Type, Value, Version."""
    query = {"name": name, "withDecryption": "true" if decrypt else "false"}
    if version is not None:
        query["version"] = str(version)
    if label is not None:
        query["label"] = label
    token = os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_TOKEN", "")
    url = f"{AGENT_URL}/systemsmanager/parameters/get?{urllib.parse.urlencode(query)}"
    req = urllib.request.Request(url, headers={"X-Aws-Parameters-Secrets-Token": token})
    try:
        with _opener.open(req, timeout=timeout) as resp:
            return json.load(resp)["Parameter"]
    except urllib.error.HTTPError as err:
        body = err.read().decode("utf-8", "replace")
        try:
            doc = json.loads(body)
        except ValueError:
            raise ParameterError(err.code, "", body) from None
        raise ParameterError(err.code, doc.get("__type", ""), doc.get("message", "")) from None


def main(argv):
    args, decrypt, version, label = [], False, None, None
    it = iter(argv[1:])
    for a in it:
        if a == "--decrypt":
            decrypt = True
        elif a == "--version":
            version = next(it, None)
        elif a == "--label":
            label = next(it, None)
        else:
            args.append(a)
    if len(args) != 1:
        print("usage: get_parameter.py NAME [--decrypt] [--version N | --label L]", file=sys.stderr)
        return 2
    try:
        p = get_parameter(args[0], decrypt=decrypt, version=version, label=label)
    except ParameterError as err:
        print(f"get_parameter.py: {args[0]}: {err}", file=sys.stderr)
        return 3 if err.code == "ParameterNotFound" else 1
    except OSError as err:
        print(f"get_parameter.py: cannot reach the agent at {AGENT_URL}: {err}", file=sys.stderr)
        return 5
    sys.stdout.write(f"{p['Type']} {p['Version']} {p['Value']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
