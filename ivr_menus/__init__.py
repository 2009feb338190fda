"""The IVR engine and the hotline menus as data."""
