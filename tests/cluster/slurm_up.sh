#!/usr/bin/env bash
# A single-node SLURM on this machine, for tests/test_cluster_slurm.py: installs Debian's slurm-wlm,
# slurmdbd, munge and mariadb-server, writes slurm.conf / slurmdbd.conf for this host (its CPUs
# and memory from `slurmd -C`), and starts munged, MariaDB, slurmdbd (so that `sacct` lists every
# job), slurmctld and slurmd. Needs root and apt (Debian 12 or newer). Idempotent: a SLURM that
# already answers with an idle node is left as it is. Prints the seconds it took.
set -euo pipefail
start=$(date +%s)
if command -v sinfo >/dev/null && sinfo -h -o '%t' 2>/dev/null | grep -qE 'idle|mix|alloc'; then
    echo "slurm_up: SLURM already running ($(sinfo -h -o '%N %t'))"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "slurm_up: needs root (apt-get, daemons)" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd munge mariadb-server mariadb-client >/dev/null
fi

host=$(hostname -s)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /run/mysqld

# munge: one key for this host, daemon as the munge user
if [ ! -s /etc/munge/munge.key ]; then mungekey --create --force; fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.2; done

# MariaDB for the accounting database
chown mysql:mysql /run/mysqld
if ! mysqladmin ping >/dev/null 2>&1; then
    (runuser -u mysql -- mariadbd --skip-networking=0 --bind-address=127.0.0.1 >/var/log/slurm/mariadb.log 2>&1 &)
    for _ in $(seq 100); do mysqladmin ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
mysql -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
          CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'adaseg-test';
          GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=adaseg-test
StorageLoc=slurm_acct_db
CONF
chmod 0600 /etc/slurm/slurmdbd.conf

# this node as `slurmd -C` sees it (CPUs, sockets, cores, threads, memory)
node=$(slurmd -C | head -1)
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=adaseg
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
KillWait=5
${node}
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF

pgrep -x slurmdbd >/dev/null || slurmdbd
for _ in $(seq 100); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
sacctmgr -n list cluster format=cluster | grep -qw adaseg || sacctmgr -i add cluster adaseg >/dev/null
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 150); do
    state=$(sinfo -h -o '%t' 2>/dev/null || true)
    case "$state" in idle*|mix*|alloc*) break ;; down*|drain*) scontrol update nodename="$host" state=resume || true ;; esac
    sleep 0.2
done
sinfo -h -o '%t' | grep -qE 'idle|mix|alloc' || { echo "slurm_up: the node did not come up:" >&2; sinfo >&2; tail -20 /var/log/slurm/*.log >&2; exit 1; }
echo "slurm_up: SLURM up on ${host} ($(sinfo -h -o '%c CPUs, %m MB')) in $(( $(date +%s) - start )) s"
