"""The researcher API: one APIView per operation, nested input/output serializers."""
