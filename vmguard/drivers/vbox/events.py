"""VirtualBox machine events -> the names of VMs that changed, for `vmguard watch`.

pyvbox's event source in passive mode, read in a daemon thread: a machine's settings
saved (data changed), its state changed (started, paused, stopped) or it was registered.
Each event names a machine id; the VM's name goes into the watcher's queue, as libvirt's
events do. pyvbox's get_event gives an IEvent: machine events are read as IMachineEvent.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any

KINDS = ("on_machine_state_changed", "on_machine_data_changed", "on_machine_registered")
WAIT_MS = 200  # how long one get_event waits: bounds how late close() returns


def _machine_id(lib: Any, event: Any) -> str:
    return (event if hasattr(event, "machine_id") else lib.IMachineEvent(event)).machine_id


class VboxEvents:
    def __init__(self, driver: Any, name: str, changes: queue.Queue) -> None:
        self.name, self.driver, self.changes = name, driver, changes
        self.lib = driver.api.lib
        self.source = driver.vbox.event_source
        self.listener = self.source.create_listener()
        kinds = [getattr(self.lib.VBoxEventType, k) for k in KINDS]
        self.source.register_listener(self.listener, kinds, False)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"vbox-events-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                event = self.source.get_event(self.listener, WAIT_MS)
            except self.lib.VBoxError:
                return  # VirtualBox went away: the watcher's sweeps still see its VMs
            if event:
                self._take(event)

    def _take(self, event: Any) -> None:
        try:
            vm = self.driver.vbox.find_machine(_machine_id(self.lib, event)).name
        except self.lib.VBoxError:
            vm = None  # unregistered meanwhile
        finally:
            self.source.event_processed(self.listener, event)
        if vm is not None:
            self.changes.put((self.name, vm, None))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2 * WAIT_MS / 1000 + 1)
        with contextlib.suppress(self.lib.VBoxError):  # already gone with VirtualBox
            self.source.unregister_listener(self.listener)
