"""Batch-system integration: vet a VM job's quarantine when the job ends.

Slurm (vmguard.batch.slurm, an Epilog), LSF (vmguard.batch.lsf, a POST_EXEC command),
and any other runner through vmguard.batch.hook.end_of_job or vmguard.vet directly.
The shell entry points for slurm.conf / lsb.queues are in vmguard/batch/scripts/.
"""
