/* fuzz-sasl - the SASL parsers (src/authd/sasl.c): PLAIN responses
 * and both SCRAM-SHA-256 client messages (base64 has fuzz-base64).
 * Invariants: a PLAIN user parsed is never empty; SCRAM never accepts a
 * proof for random credentials. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authd/sasl.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	char *user = NULL, *password = NULL;
	if (sasl_plain_parse(in, size, &user, &password) == 0)
		assert(user[0] != '\0' && password[0] != '\0');
	free(user);
	free(password);

	/* the first half as client-first, the rest as client-final; the proof
	 * is checked as the auth process does (src/store/scram.c) */
	size_t half = size / 2;
	struct sasl_scram scram;
	memset(&scram, 0, sizeof(scram));
	if (sasl_scram_client_first(&scram, in, half) == 0) {
		struct buf first, auth;
		buf_init(&first);
		buf_init(&auth);
		static const char creds[] = "4096:W22ZaJ0SNY7soEsUEjb6gQ==:"
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
		struct store_scram keys;
		assert(store_scram_parse(creds, &keys) == 0);
		assert(sasl_scram_server_first(&scram, keys.iterations, keys.salt, keys.salt_len,
					       &first) == 0);
		unsigned char proof[SASL_SCRAM_PROOF_LEN], signature[STORE_SCRAM_KEY_LEN];
		/* the server's nonce is random: a fuzzed proof cannot be right */
		if (sasl_scram_client_final(&scram, in + half, size - half, &auth, proof) == 0)
			assert(store_scram_proof_check(&keys, auth.data, auth.len, proof,
						       signature) == 1);
		store_scram_clear(&keys);
		buf_free(&first);
		buf_free(&auth);
	}
	sasl_scram_clear(&scram);
	return 0;
}
