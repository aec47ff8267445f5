"""OpenWrt glue that runs on the access point: UCI translation and ubus status."""
