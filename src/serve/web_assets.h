/* web_assets.h - the files of web/ (the drawing page), built into the
 * program: cmake/embed_web.cmake writes web_assets.c from them at build
 * time, so the service needs no files and no network at run time. */
#ifndef CASSNN_SERVE_WEB_ASSETS_H
#define CASSNN_SERVE_WEB_ASSETS_H

#include <stddef.h>

typedef struct web_asset {
    const char *path;           /* "/index.html", "/app.js", ... */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} web_asset;

extern const web_asset web_assets[];
extern const size_t web_asset_count;

#endif
