/* http/page - the web pages' HTML (docs/web.md): one layout (header,
 * main, footer) every page shares, written on the server, with no script,
 * external font or style sheet.  Every value from a request, the store or
 * the configuration goes through markup_escape (util/markup.h).  No I/O:
 * the unit tests link it with util/ alone. */
#ifndef PETREL_HTTP_PAGE_H
#define PETREL_HTTP_PAGE_H

#include "util/buf.h"

/* http_page_render - the whole document onto OUT: TITLE (escaped) in
 * <title> and <h1>, then MAIN (HTML, already escaped by its writer) */
void http_page_render(struct buf *out, const char *title, const char *main_html);

#endif
