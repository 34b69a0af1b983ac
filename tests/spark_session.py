"""A real local Spark for the tests of `seqae.fleet.spark`: Java found or installed, then a `local[2]` session.

Spark runs on a JVM. Where `java` is missing and the tests run as root on Debian or Ubuntu, Java is
installed with apt-get (`default-jre-headless`, what the Debian image of a CI runner lacks); the
Spark tests are skipped with the reason only where Java cannot be had that way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

JAVA_PACKAGE = "default-jre-headless"


def java_missing_reason() -> str | None:
    """None when `java` runs (after installing it if needed and possible), else why it does not."""
    if shutil.which("java") is None:
        if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
            return (f"Spark needs Java and `java` is not on PATH; install {JAVA_PACKAGE} (or any Java 17+) "
                    "to run the Spark tests (they install it themselves only as root on Debian/Ubuntu)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-qq"],
                        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", JAVA_PACKAGE]):
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                return f"Spark needs Java; `{' '.join(command)}` failed ({last})"
        if shutil.which("java") is None:
            return f"Spark needs Java; {JAVA_PACKAGE} was installed but `java` is still not on PATH"
    done = subprocess.run(["java", "-version"], capture_output=True, text=True)
    if done.returncode != 0:
        return f"Spark needs Java; `java -version` failed: {done.stderr.strip()[:200]}"
    return None


def local_session(cores: int = 2, app: str = "seqae-tests"):
    """A `local[cores]` SparkSession for small data: few shuffle partitions, no UI, UTC, and this
    interpreter (with its PYTHONPATH) for the Python workers."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return (SparkSession.builder.master(f"local[{cores}]").appName(app)
            .config("spark.sql.shuffle.partitions", str(2 * cores))
            .config("spark.default.parallelism", str(2 * cores))
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "1g")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate())
