"""Vertelpaal kiosk: the local UI service, the sync service and the hardware they drive."""
