/* evhttp-hello - libevent 2.1's evhttp answering every request with a small
 * JSON body: one side of the HTTP library comparison in docs/http.md.
 *   cc -O2 evhttp-hello.c -o evhttp-hello -levent && ./evhttp-hello PORT */
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static void hello(struct evhttp_request *req, void *arg)
{
	struct evbuffer *body = evbuffer_new();
	evbuffer_add(body, "{\"status\":\"ok\"}\n", 16);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

int main(int argc, char **argv)
{
	struct event_base *base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	evhttp_set_max_headers_size(http, 16384);
	evhttp_set_max_body_size(http, 1 << 20);
	evhttp_set_timeout(http, 30);
	evhttp_set_gencb(http, hello, NULL);
	if (evhttp_bind_socket(http, "127.0.0.1", (unsigned short)atoi(argv[1])) != 0)
		return 1;
	return event_base_dispatch(base);
}
