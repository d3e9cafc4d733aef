"""Child process of audit.expected_snapshot, run inside `unshare --net`.

Reads a Ruleset as JSON on stdin, loads it with the named backend into this fresh,
private network namespace and prints the backend's RulesetSnapshot of it as JSON. The
namespace dies with the process: nothing here can reach the host's firewall.
"""

from __future__ import annotations

import json
import sys

from vmguard.core.errors import VmguardError
from vmguard.firewall.backends import backend_for
from vmguard.firewall.model import Ruleset


def main(argv: list[str]) -> int:
    backend = backend_for(argv[0])
    ruleset = Ruleset.from_dict(json.load(sys.stdin))
    try:
        backend.apply(ruleset)
        print(json.dumps(backend.snapshot().to_dict()))
    except VmguardError as err:
        print(err, file=sys.stderr)
        return int(err.exit_code)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
