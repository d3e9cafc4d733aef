#!/bin/sh
# /init of the vmguard test guest (a template: guest_image.py fills the @NAMES@).
/bin/busybox --install -s
mkdir -p /proc /sys /dev /run /tmp /var
ln -s /run /var/run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
hostname vmguard-guest
for module in @MODULES@; do
  insmod "/lib/vmguard-modules/$module" || echo "vmguard-guest: insmod $module failed"
done

# Without udev there is no /dev/virtio-ports/<name>: find the port by its sysfs name.
port=
tries=0
while [ -z "$port" ] && [ "$tries" -lt 100 ]; do
  for dir in /sys/class/virtio-ports/*; do
    [ "$(cat "$dir/name" 2>/dev/null)" = "@AGENT_PORT@" ] && port=/dev/${dir##*/}
  done
  [ -n "$port" ] && [ -e "$port" ] || { port=; sleep 0.1; }
  tries=$((tries + 1))
done
if [ -z "$port" ]; then
  echo "vmguard-guest: no virtio port named @AGENT_PORT@"
else
  mkdir -p /run/qemu-ga
  # Respawn: a test may kill the agent on purpose.
  ( while true; do
      /usr/sbin/qemu-ga -m virtio-serial -p "$port" -t /run/qemu-ga
      echo "vmguard-guest: qemu-ga exited $?"
      sleep 1
    done ) &
  echo "@READY_MARK@ on $port"
fi
while true; do sleep 3600; done
