/* SPDX-License-Identifier: MIT */
/*
 * ua_private.h - what the files of src/ua/ share (not public).
 */
#ifndef SIPREG_UA_PRIVATE_H
#define SIPREG_UA_PRIVATE_H

#include "sipreg/ua.h"

/* 0, or -EINVAL when a setting is out of range. */
int ua_settings_check(const struct ua_settings *s);

#endif /* SIPREG_UA_PRIVATE_H */
