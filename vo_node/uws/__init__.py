"""UWS 1.1 (Universal Worker Service) for the async services: TAP ``/async`` first.

- ``phases``: the execution phases and their transitions, as data;
- ``model``: the job, and what a worker hands to an injected executor (``JobRun``) and gets
  back (``JobResult``);
- ``store``: the only SQL on ``uws.jobs``; ``cancel``: cancelling a running job's query;
- ``documents``: the UWS XML; ``forms``: what clients send (parameters, times, uploads);
- ``views``: ``uws_blueprint(service, url_prefix)``, the HTTP binding (the only Flask here);
- ``worker``: ``run_worker(settings, executors)``, the processes that run the jobs.

The package does not know what a job computes: each service injects an ``Executor``.
Import the submodules directly; this module imports none, so that a worker never loads Flask
views it does not serve.
"""
