"""Apache Beam: the engine dataset builds run on. A build is a list of independent jobs (chunks
of sources, soundfont programs to measure); each runs once, on whatever worker Beam gives it, and
writes its own output atomically, so a job retried by a runner writes the same files again.

Locally the DirectRunner runs them in-process (one worker) or in as many processes as workers;
``runner`` and ``options`` send the same pipeline to Dataflow, Flink or Spark. The output folder
must then be one every worker can write (a shared mount): jobs write their shards there.
"""

from __future__ import annotations

import logging
import shlex
import threading
from collections.abc import Callable

DIRECT = "DirectRunner"


def pipeline_options(runner: str, workers: int, options: str = ""):  # -> PipelineOptions
    """Beam options for ``runner``: the DirectRunner gets ``workers`` processes (in-process when
    1); ``options`` are Beam's own flags, e.g. "--project=p --region=r --temp_location=gs://b/t"."""
    from apache_beam.options.pipeline_options import PipelineOptions

    try:
        args = shlex.split(options)
    except ValueError as error:
        raise ValueError(f"--beam_options {options!r}: {error}") from None
    settings: dict = {"runner": runner, "default_sdk_harness_log_level": "ERROR"}
    if runner == DIRECT:
        settings |= {"direct_num_workers": workers, "direct_running_mode": "multi_processing" if workers > 1 else "in_memory"}
    return PipelineOptions(args, **settings)


def check_runner(runner: str, options: str = "") -> None:
    """Refuse an unknown runner or unparsable options before a build writes anything."""
    from apache_beam.runners.runner import create_runner

    try:
        create_runner(runner)
    except (ValueError, ImportError) as error:
        raise ValueError(f"--runner {runner}: {str(error).splitlines()[0]}") from None
    pipeline_options(runner, 1, options)


def run_jobs(
    stage: str,
    jobs: list,
    function: Callable,
    runner: str = DIRECT,
    workers: int = 1,
    options: str = "",
    poll: Callable[[], None] | None = None,
) -> None:
    """Run ``function(job)`` for every job in one Beam pipeline (Create -> Reshuffle -> Map) and
    wait for it; ``poll`` is called about twice a second meanwhile (progress from the files the
    jobs write: results travel through the output folder, not back to this process)."""
    import apache_beam as beam

    if not jobs:
        return
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with beam.Pipeline(options=pipeline_options(runner, workers, options)) as pipeline:
                _ = (
                    pipeline
                    | f"{stage}: jobs" >> beam.Create(jobs, reshuffle=False)
                    | f"{stage}: spread over workers" >> beam.Reshuffle()
                    | stage >> beam.Map(function)
                )
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(error)

    thread = threading.Thread(target=run, name=f"beam {stage}", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(timeout=0.5)
        if poll is not None:
            poll()
    if failure:
        raise failure[0]

