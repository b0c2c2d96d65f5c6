/* http/page - the layout of the web pages (page.h). */
#include "http/page.h"

#include <string.h>

#include "util/markup.h"

/* the style of every page: system fonts, readable widths, visible focus */
static const char PAGE_STYLE[] =
	"body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}"
	"header,footer{background:#12355b;color:#fff;padding:.75rem 1.5rem}"
	"main{max-width:40rem;margin:2rem auto;padding:0 1.5rem}"
	"label{display:block;margin-top:1rem;font-weight:600}"
	"input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}"
	"input[type=checkbox]{width:auto;margin-right:.5rem}fieldset{margin-top:1rem}"
	"button{font:inherit;margin-top:1.25rem;padding:.5rem 1.25rem}"
	":focus{outline:3px solid #f5a623}"
	"nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}"
	"nav button{margin:0}"
	"table{border-collapse:collapse;width:100%;margin:1rem 0}"
	"th,td{text-align:left;padding:.3rem;border-bottom:1px solid #ccc;vertical-align:top}"
	"code{word-break:break-all}pre{white-space:pre-wrap;overflow-wrap:anywhere}"
	"footer{font-size:.875rem}";

void http_page_render(struct buf *out, const char *title, const char *main_html)
{
	buf_append_str(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		       "<title>");
	markup_escape(out, title, strlen(title));
	buf_append_str(out, " - Petrel</title>\n<style>");
	buf_append_str(out, PAGE_STYLE);
	buf_append_str(out, "</style>\n</head>\n<body>\n<header>Petrel</header>\n<main>\n<h1>");
	markup_escape(out, title, strlen(title));
	buf_append_str(out, "</h1>\n");
	buf_append_str(out, main_html);
	buf_append_str(out, "</main>\n<footer>Petrel mail service</footer>\n</body>\n</html>\n");
}
