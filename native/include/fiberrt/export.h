/*
 * Symbol visibility. The library is built with hidden visibility by default;
 * FBR_API marks the functions that form the public ABI of the shared library.
 */
#ifndef FIBERRT_EXPORT_H
#define FIBERRT_EXPORT_H

#if defined(FBR_BUILDING_LIBRARY) && defined(__GNUC__)
#define FBR_API __attribute__((visibility("default")))
#else
#define FBR_API
#endif

#endif
