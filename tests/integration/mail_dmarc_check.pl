# mail_dmarc_check.pl PORT < scenarios
# Mail::DMARC (libmail-dmarc-perl), an independent DMARC implementation, evaluating the
# same inputs as `petrel dmarc check` against the test DNS server on 127.0.0.1:PORT.
# Each input line is a JSON array [FROM-DOMAIN, SPF-RESULT, SPF-DOMAIN, [DKIM-RESULT,
# DKIM-DOMAIN, ...]]; each output line the JSON object of its result, disposition and
# alignment.  One process for all scenarios: loading the module and its Public Suffix
# List takes a second or two.  test_dmarc.py compares the two.
use strict;
use warnings;
use JSON::PP;
use Mail::DMARC::PurePerl;
use Net::DNS::Resolver;

my ($port) = @ARGV;
my $resolver = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $port,
                                       recurse => 1, udp_timeout => 5);
$| = 1;
while (my $line = <STDIN>) {
    my ($from, $spf_result, $spf_domain, $dkim) = @{ decode_json($line) };
    my $dmarc = Mail::DMARC::PurePerl->new;
    $dmarc->set_resolver($resolver);
    $dmarc->source_ip('192.0.2.1');
    $dmarc->envelope_to('example.net');
    $dmarc->envelope_from($spf_domain || $from);
    $dmarc->header_from($from);
    $dmarc->spf(domain => $spf_domain, scope => 'mfrom', result => $spf_result) if $spf_domain;
    my @signatures;
    my @d = @$dkim;
    while (@d) {
        my ($result, $domain) = splice(@d, 0, 2);
        push @signatures, { domain => $domain, selector => 's', result => $result };
    }
    $dmarc->dkim(\@signatures);
    my $r = $dmarc->validate;
    print encode_json({
        result => $r->result,
        disposition => $r->disposition,
        spf_aligned => $r->spf_align ? JSON::PP::true : JSON::PP::false,
        dkim_aligned => $r->dkim_align ? JSON::PP::true : JSON::PP::false,
    }), "\n";
}
