#!/opt/jupyter/bin/python3
"""The image's start command, as in the Jupyter Docker Stacks: `start-notebook.py [ARGS...]`
runs `jupyter lab ARGS...` (the operator passes the platform's arguments, then the user's).

RESTARTABLE=yes (injected by the platform) restarts the server in place after it exits
cleanly (a shutdown from JupyterLab's own menu or `jupyter server stop`), so a user can restart
the server without a new pod. Unlike the Docker Stacks' run-one-constantly, a server that
exits with an error is not restarted here: the container ends with the server's exit code and
Kubernetes reports the failure (CrashLoopBackOff, with the server's last words in the logs).
"""

import os
import subprocess
import sys

command = [os.environ.get("DOCKER_STACKS_JUPYTER_CMD", "lab")]
argv = ["jupyter", *command, *sys.argv[1:]]
if os.environ.get("RESTARTABLE") != "yes":
    os.execvp(argv[0], argv)
while True:
    code = subprocess.call(argv)
    if code != 0:
        sys.exit(code)
    print("start-notebook.py: the server exited cleanly; RESTARTABLE=yes starts it again", flush=True)
