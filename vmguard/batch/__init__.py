"""Batch-system integration: root-side hooks give a job a VM of its pool at its start and
vet exactly that VM's output, once, when it ends.

Slurm (vmguard.batch.slurm: Prolog, Epilog), LSF (vmguard.batch.lsf: PRE_EXEC,
POST_EXEC), and any other runner through vmguard.batch.hook (start_of_job,
end_of_job). `vmguard batch install-hooks` (vmguard.batch.install) writes the scripts
slurm.conf and lsb.queues name. Who holds which VM: binding.py and state.py; the
sealed output: sealing.py; the vet: vetting.py; held output for admins: records.py.
"""
