/*
 * Version of the FiberRuntime headers, and of the library actually loaded
 * (which can differ when a program is linked against a newer shared library).
 */
#ifndef FIBERRT_VERSION_H
#define FIBERRT_VERSION_H

#include "export.h"

#define FBR_VERSION_MAJOR 0
#define FBR_VERSION_MINOR 1
#define FBR_VERSION_PATCH 0
/* One number that orders versions: major * 10000 + minor * 100 + patch. */
#define FBR_VERSION (FBR_VERSION_MAJOR * 10000 + FBR_VERSION_MINOR * 100 + FBR_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/* FBR_VERSION of the library in this process. */
FBR_API int fbr_version(void);

/* "MAJOR.MINOR.PATCH" of the library in this process. */
FBR_API const char *fbr_version_string(void);

#ifdef __cplusplus
}
#endif

#endif
