/*
 * A leak of ours inside a callback that DPDK calls. `make test-sanitize`
 * runs this with the suite's own sanitizer options and requires the leak
 * to be reported: proof that the suppression of DPDK's allocations
 * (lsan.supp) hides nothing our code allocates, even under a DPDK frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_kvargs.h>

/* volatile: the compiler must keep the allocation it cannot see used */
static char *volatile pb_canary_kept;

static int
leak_in_callback(const char *key, const char *value, void *opaque)
{
	(void)key;
	(void)opaque;
	pb_canary_kept = strdup(value);
	pb_canary_kept = NULL;
	return 0;
}

int
main(void)
{
	struct rte_kvargs *kv = rte_kvargs_parse("canary=leaked", NULL);

	if (kv == NULL) {
		fprintf(stderr, "leak-canary: rte_kvargs_parse failed\n");
		return 2;
	}
	rte_kvargs_process(kv, "canary", leak_in_callback, NULL);
	rte_kvargs_free(kv);
	return 0;
}
